//! Process calls: signals to other processes, parent-death signal. (Being written.)
