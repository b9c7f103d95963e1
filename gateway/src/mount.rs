//! Mount table: which app serves a request path, and its SCRIPT_NAME / PATH_INFO. (Being written.)
