//! An issue made ready to mail: rendered once ([`Prepared`]) with the headers every message
//! shares ([`Composer`]), the unsubscribe key and the DKIM signer. Turns a subscriber into the
//! message they receive; every command that makes messages goes through here.

use std::{path::Path, sync::Arc, time::SystemTime};

use crate::{
    dkim::{self, Signer},
    error::Error,
    issue::Issue,
    message::{Built, Composer},
    render::{Prepared, Rendered},
    subscribers::Subscriber,
    unsubscribe::{self, KeyUse, TokenKey},
};

#[derive(Debug)]
pub struct Mailing {
    pub prepared: Prepared,
    pub composer: Composer,
    /// Set when the list asks for DKIM but a preview or check runs without the key.
    pub unsigned: bool,
}

impl Mailing {
    /// Prepares `issue` for `purpose`: a send needs the real unsubscribe key and, if the list
    /// asks for DKIM, the signing key; a preview or check makes do without them (and says so in
    /// [`Mailing::notes`]).
    pub fn prepare(
        issue: &Issue,
        purpose: KeyUse,
        dkim_key: Option<&Path>,
    ) -> Result<Mailing, Error> {
        let token_key = unsubscribe::key_from_env(purpose)?;
        let list = &issue.list.file;
        let signer = match (&list.dkim, dkim_key) {
            (Some(settings), Some(path)) => {
                let domain = settings.domain.as_ref().map_or_else(
                    || list.from.address.domain().to_ascii_lowercase(),
                    |domain| domain.as_str().to_owned(),
                );
                Some(Signer::load(path, settings.selector.as_str(), &domain)?)
            }
            (None, Some(path)) => {
                return Err(Error::DkimKey {
                    path: path.to_owned(),
                    reason: format!(
                        "the list file `{}` has no `dkim` section naming the selector",
                        issue.list.path.display()
                    ),
                });
            }
            (Some(_), None) if purpose == KeyUse::Send => {
                return Err(Error::DkimKeyMissing {
                    list: issue.list.path.clone(),
                });
            }
            _ => None,
        };
        let mut mailing = Mailing::build(issue, token_key, signer)?;
        mailing.unsigned = list.dkim.is_some() && mailing.composer.signs().is_none();
        Ok(mailing)
    }

    /// Prepares `issue` with the given unsubscribe key and no DKIM signing (the environment is
    /// not read).
    pub fn new(issue: &Issue, token_key: Option<TokenKey>) -> Result<Mailing, Error> {
        Mailing::build(issue, token_key, None)
    }

    fn build(
        issue: &Issue,
        token_key: Option<TokenKey>,
        signer: Option<Signer>,
    ) -> Result<Mailing, Error> {
        let prepared = Prepared::new(issue, token_key)?;
        let composer = Composer::new(issue, &prepared, signer.map(Arc::new));
        Ok(Mailing {
            prepared,
            composer,
            unsigned: false,
        })
    }

    /// Notes for the user about what a preview or check could not do as a send would.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.prepared.uses_throwaway_key() {
            notes.push(format!(
                "{} is not set, so unsubscribe links were made with a throwaway key; `send` needs the real key",
                unsubscribe::KEY_VARIABLE
            ));
        }
        if self.unsigned {
            notes.push(format!(
                "no DKIM key was given (--dkim-key or {}), so messages are not signed; `send` needs the key",
                dkim::KEY_FILE_VARIABLE
            ));
        }
        notes
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
