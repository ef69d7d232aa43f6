//! The panels. Each reads the state it is given and pushes [`Command`]s; the app applies them
//! after the frame.

pub mod about;
pub mod account;
pub mod admin;
pub mod chat;
pub mod composer;
pub mod conversations;
pub mod footer;
pub mod header;
pub mod personas;
pub mod share;
pub mod status;

use crate::conversation::RetryAction;

/// Notes where a widget the browser tests click was drawn; nothing without the `testing`
/// feature (the name is not even built).
#[inline]
pub(crate) fn record_widget(name: impl FnOnce() -> String, rect: egui::Rect) {
    #[cfg(any(test, feature = "testing"))]
    crate::web_test_handle::record_widget(name, rect);
    #[cfg(not(any(test, feature = "testing")))]
    let _ = (name, rect);
}

/// Something the person asked for during a frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    SelectPersona(String),
    Send,
    Stop,
    Regenerate,
    /// A new, empty conversation (the old ones stay in the list).
    NewChat,
    /// Show this conversation; `message_id`: a search hit to scroll to.
    OpenConversation {
        id: String,
        message_id: Option<i64>,
    },
    /// Narrow screens: the conversation list over the chat, or back.
    ToggleConversations,
    Rename {
        id: String,
        title: String,
    },
    SetPinned(String, bool),
    DeleteConversation(String),
    /// The toast's Undo: restore the conversation just deleted.
    UndoDelete,
    /// The Share window of a conversation: its link, if any.
    OpenShare(String),
    CloseShare,
    /// Make a (new) read-only link to a snapshot of the conversation.
    ShareConversation(String),
    StopSharing(String),
    CopyShareLink,
    /// The conversation as a plain HTML page, in the browser.
    OpenAsPage(String),
    /// Download one conversation (`Some(id)`) or everything, as Markdown or as JSON.
    Export {
        conversation_id: Option<String>,
        markdown: bool,
    },
    /// "Import…": the web app's file picker (the desktop app takes a dropped file).
    PickImportFile,
    RefreshConversations,
    /// The search box's text changed.
    SearchEdited,
    /// Esc in the search box: back to the list.
    CloseSearch,
    Retry(RetryAction),
    ToggleTheme,
    ToggleSidebar,
    RefreshStatus,
    SignIn,
    CancelSignIn,
    SignOut,
    /// The first press of "Delete my data": asks for confirmation.
    DeleteData,
    CancelDelete,
    ConfirmDelete,
    KeyName(String),
    CreateKey,
    RevokeKey(String),
    CopyKey,
    DismissKey,
    OpenAdmin,
    CloseAdmin,
    /// Show the last N days.
    AdminDays(u32),
    RefreshAdmin,
    /// The first press of Block: asks for confirmation.
    AskBlock(i64),
    CancelBlock,
    BlockUser(i64, bool),
    AdminRevokeKey(String),
}
