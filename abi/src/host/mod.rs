//! Host SDK (being written).
