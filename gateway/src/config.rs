//! The JSON config file (`--config`): same keys as the long flags; flags override. (Being written.)
