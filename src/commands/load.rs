//! The files a command reads, loaded and made ready: the issue with its list, the issue
//! prepared for mailing (for `purpose`, which decides whether keys may be missing), and the
//! subscriber and suppression files.

use crate::{
    cli::InputArguments,
    compose::{
        mailing::Mailing,
        unsubscribe::{KeyUse, TokenKey},
    },
    env,
    error::Error,
    input::{audience::Audience, issue::Issue},
};

#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) issue: Issue,
    pub(crate) mailing: Mailing,
    pub(crate) audience: Audience,
}

impl Input {
    pub(crate) fn load(arguments: &InputArguments, purpose: KeyUse) -> Result<Input, Error> {
        let issue = Issue::load(&arguments.issue)?;
        let mailing = Mailing::prepare(
            &issue,
            purpose,
            unsubscribe_key(purpose)?,
            arguments.dkim_key.as_deref(),
        )?;
        let audience = Audience::of(
            &issue,
            arguments.subscribers.as_deref(),
            arguments.suppression.as_deref(),
        )?;
        Ok(Input {
            issue,
            mailing,
            audience,
        })
    }
}

/// The unsubscribe key from [`env::UNSUBSCRIBE_KEY`]: a send must have it; a preview or check
/// makes do with a throwaway key (its tokens will not verify) when it is not set.
pub(crate) fn unsubscribe_key(purpose: KeyUse) -> Result<Option<TokenKey>, Error> {
    match std::env::var_os(env::UNSUBSCRIBE_KEY) {
        Some(value) => {
            let bytes = value.into_encoded_bytes();
            TokenKey::new(bytes)
                .map(Some)
                .ok_or(Error::UnsubscribeKeyShort)
        }
        None if purpose == KeyUse::Preview => Ok(Some(TokenKey::throwaway())),
        None => Ok(None),
    }
}

/// The suppression file: `given` (`--suppression`), or the one the list file names.
pub(crate) fn suppression_path(
    list: &crate::input::list::List,
    given: Option<&std::path::PathBuf>,
) -> Result<std::path::PathBuf, Error> {
    given
        .cloned()
        .or_else(|| list.suppression_path.clone())
        .ok_or_else(|| Error::SuppressionMissing {
            list: list.path.clone(),
        })
}
