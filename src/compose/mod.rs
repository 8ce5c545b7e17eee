//! The second stage: an issue made into email. Markdown to HTML and text ([`markdown`]), the
//! templates rendered once per issue with slots for each subscriber ([`render`]), the message
//! one subscriber receives ([`message`], put together by [`mailing`]), its DKIM signature
//! ([`dkim`]) and unsubscribe token ([`unsubscribe`]), the threads that build and sign
//! messages on every core for a send ([`pool`]), and the checks `check` makes on the result
//! ([`lint`]).

pub(crate) mod dkim;
pub(crate) mod encoded_words;
pub(crate) mod lint;
pub(crate) mod mailing;
pub mod markdown;
pub(crate) mod message;
pub(crate) mod pool;
pub(crate) mod render;
pub(crate) mod unsubscribe;
