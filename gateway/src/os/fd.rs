//! File-descriptor calls: close-on-exec flags, adopting inherited sockets. (Being written.)
