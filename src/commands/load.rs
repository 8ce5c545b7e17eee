//! The files a command reads, loaded and made ready: the issue with its list, the issue
//! prepared for mailing (for `purpose`, which decides whether keys may be missing), and the
//! subscriber and suppression files.

use std::path::PathBuf;

use crate::{
    cli::{InputArguments, SigningArguments},
    compose::{
        mailing::Mailing,
        unsubscribe::{KeyUse, TokenKey},
    },
    env,
    error::Error,
    input::{audience::Audience, issue::Issue},
};

/// The files a command reads, as given on the command line or in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InputFiles {
    pub(crate) issue: PathBuf,
    /// The subscriber file, instead of the list file's.
    pub(crate) subscribers: Option<PathBuf>,
    /// The suppression file, instead of the list file's.
    pub(crate) suppression: Option<PathBuf>,
    pub(crate) dkim_key: Option<PathBuf>,
}

impl InputFiles {
    pub(crate) fn new(input: &InputArguments, signing: &SigningArguments) -> InputFiles {
        InputFiles {
            issue: input.issue.clone(),
            subscribers: input.subscribers.clone(),
            suppression: input.suppression.clone(),
            dkim_key: signing.dkim_key.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) issue: Issue,
    pub(crate) mailing: Mailing,
    pub(crate) audience: Audience,
    /// The DKIM key file, if one is used.
    pub(crate) dkim_key: Option<PathBuf>,
}

impl Input {
    /// Every file the command reads, as given: issue, list, subscriber and suppression files
    /// and the DKIM key.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![
            self.issue.path.clone(),
            self.issue.real_path.clone(),
            self.issue.list.path.clone(),
            self.audience.subscribers_path.clone(),
        ];
        files.extend(self.audience.suppression_path.clone());
        files.extend(self.dkim_key.clone());
        files
    }

    pub(crate) fn load(files: &InputFiles, purpose: KeyUse) -> Result<Input, Error> {
        let issue = Issue::load(&files.issue)?;
        let mailing = Mailing::prepare(
            &issue,
            purpose,
            unsubscribe_key(purpose)?,
            files.dkim_key.as_deref(),
        )?;
        let audience = Audience::of(
            &issue,
            files.subscribers.as_deref(),
            files.suppression.as_deref(),
        )?;
        Ok(Input {
            issue,
            mailing,
            audience,
            dkim_key: files.dkim_key.clone(),
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
