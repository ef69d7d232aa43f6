//! The panels. Each reads the state it is given and pushes [`Command`]s; the app applies them
//! after the frame.

pub mod about;
pub mod chat;
pub mod composer;
pub mod footer;
pub mod header;
pub mod personas;
pub mod status;

use crate::conversation::RetryAction;

/// Something the person asked for during a frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    SelectPersona(String),
    Send,
    Stop,
    Regenerate,
    Clear,
    Retry(RetryAction),
    ToggleTheme,
    ToggleSidebar,
    RefreshStatus,
}
