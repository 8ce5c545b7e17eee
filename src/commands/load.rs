//! The files a command reads, loaded and made ready: the issue with its list, the issue
//! prepared for mailing (for `purpose`, which decides whether keys may be missing), and the
//! subscriber and suppression files.

use crate::{
    audience::Audience, cli::InputArguments, error::Error, issue::Issue, mailing::Mailing,
    unsubscribe::KeyUse,
};

#[derive(Debug)]
pub struct Input {
    pub issue: Issue,
    pub mailing: Mailing,
    pub audience: Audience,
}

impl Input {
    pub fn load(arguments: &InputArguments, purpose: KeyUse) -> Result<Input, Error> {
        let issue = Issue::load(&arguments.issue)?;
        let mailing = Mailing::prepare(&issue, purpose, arguments.dkim_key.as_deref())?;
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
