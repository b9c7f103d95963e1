//! The access log: one line per request in Apache's combined format. (Being written.)
