//! The supervisor (master) process: spawns, watches, reloads and stops workers. (Being written.)
