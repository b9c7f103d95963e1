//! Proxy awareness: trusted peers and their X-Forwarded-* / Forwarded headers. (Being written.)
