//! HTTP: the page and its assets (`assets`, embedded in the binary), the
//! JSON and SSE API (`server`), heap-profile routes (`heap`), what any
//! client may cost (`limits`) and binding and announcing the address
//! (`serve`).
//!
//! In: the hub. Out: responses. Never: let a slow or stalled client hold
//! back the hub or the program (each stream is bounded and evicted).

pub mod assets;
mod heap;
mod limits;
pub mod serve;
pub mod server;
