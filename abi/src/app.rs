//! The app SDK (placeholder while it is written).
