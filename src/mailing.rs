//! An issue made ready to mail: rendered once ([`Prepared`]) with the headers every message
//! shares ([`Composer`]). Turns a subscriber into the message they receive; every command that
//! makes messages goes through here.

use std::time::SystemTime;

use crate::{
    error::Error,
    issue::Issue,
    message::{Built, Composer},
    render::{Prepared, Rendered},
    subscribers::Subscriber,
    unsubscribe::TokenKey,
};

#[derive(Debug)]
pub struct Mailing {
    pub prepared: Prepared,
    pub composer: Composer,
}

impl Mailing {
    pub fn new(issue: &Issue, token_key: Option<TokenKey>) -> Result<Mailing, Error> {
        let prepared = Prepared::new(issue, token_key)?;
        let composer = Composer::new(issue, &prepared);
        Ok(Mailing { prepared, composer })
    }

    /// The message to `subscriber`.
    pub fn message(&self, subscriber: &Subscriber, date: SystemTime) -> Result<Built, Error> {
        let personal = self.prepared.personalise(subscriber);
        let encoded = self.prepared.encode(&personal);
        self.composer.build(subscriber, &personal, encoded, date)
    }

    /// The message to `subscriber` and, separately, its two parts (for previews and checks).
    pub fn message_and_parts(
        &self,
        subscriber: &Subscriber,
        date: SystemTime,
    ) -> Result<(Built, Rendered), Error> {
        let personal = self.prepared.personalise(subscriber);
        let rendered = self.prepared.render(&personal);
        let encoded = self.prepared.encode(&personal);
        let built = self.composer.build(subscriber, &personal, encoded, date)?;
        Ok((built, rendered))
    }
}
