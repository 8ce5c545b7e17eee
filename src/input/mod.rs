//! The first stage: the files a user writes, read into checked values. YAML documents with
//! the place of every value ([`document`], [`location`]), the value types that check a field as
//! it is read ([`values`]), the issue and the list file it names ([`issue`], [`list`]), the
//! subscriber CSV and the suppression file ([`subscribers`]), who an issue goes to
//! ([`audience`]), and `{column}` placeholders ([`placeholders`]).

pub mod audience;
pub mod document;
pub mod issue;
pub mod list;
pub mod location;
pub mod placeholders;
pub mod subscribers;
pub mod values;
