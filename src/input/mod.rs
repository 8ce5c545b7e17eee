//! The first stage: the files a user writes, read into checked values. YAML documents with
//! the place of every value ([`document`], [`location`]), the value types that check a field as
//! it is read ([`values`]), the issue and the list file it names ([`issue`], [`list`]), the
//! subscriber CSV and the suppression file ([`subscribers`], appended to by [`suppression`]),
//! mailboxes of returned mail ([`mailbox`]), the names of the unsubscribe pages' texts
//! ([`page_text`]), who an issue goes to ([`audience`]), `{column}`
//! placeholders ([`placeholders`]), and the rules all text obeys ([`text`]).

pub(crate) mod audience;
pub(crate) mod brand;
pub mod document;
pub(crate) mod issue;
pub(crate) mod list;
pub(crate) mod location;
pub(crate) mod mailbox;
pub(crate) mod page_text;
pub(crate) mod placeholders;
pub(crate) mod subscribers;
pub(crate) mod suppression;
pub(crate) mod text;
pub(crate) mod values;
