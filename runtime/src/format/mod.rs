//! The `.edge` model format (reader; the writer is behind the `alloc` feature).

pub mod schema;
