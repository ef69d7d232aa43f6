//! The steps of a turn before the model is asked: validate, authorize, rate limit, moderate, begin in the store.

use std::time::Instant;

use super::{
    Action, Caller, Chat, ChatError, Source,
    context::{self, context},
    persist,
    reply::{Reply, ReplyPlan, SessionReply},
    validate,
};
use crate::{
    api::HistoryMessage,
    metrics::Outcome,
    moderation::Decision,
    personas::Persona,
    provider::{ChatParams, WireMessage},
    store::{OwnerId, Regeneration, UsageRecord},
};

/// What a caller asks for.
pub enum Turn {
    /// The app: a new message in a stored session.
    Send {
        session_id: String,
        persona: String,
        message: String,
    },
    /// The app: drop the session's last reply and answer its last message again.
    Regenerate { session_id: String, persona: String },
    /// `/v1`: the whole conversation comes with the request and nothing is stored.
    Complete(Conversation),
}

/// A stateless conversation, as an OpenAI client sends it.
pub struct Conversation {
    /// The persona id (OpenAI's `model`).
    pub model: String,
    pub messages: Vec<Said>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// One message of a [`Conversation`].
pub struct Said {
    pub speaker: Speaker,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    System,
    User,
    Assistant,
}

impl Speaker {
    fn role(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// What moderation lets a turn do.
enum Verdict {
    /// Go on, with the notice to show when the check could not be made and policy lets it pass.
    Go(Option<String>),
    /// The check could not be made and policy holds the message back: the error to answer.
    Unavailable(ChatError),
}

fn chars(text: &str) -> u64 {
    u64::try_from(text.chars().count()).unwrap_or(u64::MAX)
}

impl Chat {
    /// Runs a turn up to the point where the model is asked; the [`Reply`] does the rest
    /// (streamed with [`Reply::next`] or whole with [`Reply::complete`]). Every error
    /// before that is returned here, counted where it ends a reply (a refusal).
    pub async fn turn(&self, caller: Caller, turn: Turn) -> Result<Reply, ChatError> {
        let started = Instant::now();
        match turn {
            Turn::Send {
                session_id,
                persona,
                message,
            } => {
                self.send(caller, &session_id, &persona, message, started)
                    .await
            }
            Turn::Regenerate {
                session_id,
                persona,
            } => self.regenerate(caller, session_id, &persona, started).await,
            Turn::Complete(conversation) => self.complete(caller, conversation, started).await,
        }
    }

    async fn send(
        &self,
        caller: Caller,
        session_id: &str,
        persona: &str,
        message: String,
        started: Instant,
    ) -> Result<Reply, ChatError> {
        validate::session_id(session_id)?;
        let persona = validate::persona(&self.inner.personas, persona)?.clone();
        validate::message(&message)?;
        self.authorize(&caller, Action::Chat(session_id)).await?;
        let reservation = self.live.reserve(session_id)?;
        self.check_rate(&caller)?;
        self.check_quota(&caller).await?;
        let user_chars = chars(&message);
        let store = &*self.inner.store;
        // A clean verdict that needs no call (the local list, a cached verdict) lets the session
        // check share the store trip that stores the message; otherwise an unknown session is
        // answered before any moderation call is made.
        let notice = if self.inner.moderator.clean_without_call(&message) {
            None
        } else {
            if !persist::session_exists(store, session_id.to_owned()).await? {
                return Err(ChatError::unknown_session());
            }
            match self
                .moderate(
                    &message,
                    Source::App,
                    &persona,
                    (user_chars, caller.owner),
                    started,
                )
                .await?
            {
                Verdict::Go(notice) => notice,
                Verdict::Unavailable(error) => {
                    // Fail closed, but keep what the person typed: nothing reached the model.
                    persist::save_user_message(
                        store,
                        session_id.to_owned(),
                        persona.id.clone(),
                        message,
                    )
                    .await?;
                    return Err(error);
                }
            }
        };
        // Stored before the model is asked: no provider failure can lose what the person typed.
        // The newest `history_messages` plus this one are the context; `fit` then keeps as many
        // of them as the model's context holds.
        let begun = persist::begin_turn(
            store,
            session_id.to_owned(),
            persona.id.clone(),
            message,
            self.inner.history_messages + 1,
        )
        .await?;
        let Some((user_message_id, recent)) = begun else {
            return Err(ChatError::unknown_session());
        };
        let session = SessionReply::new(session_id.to_owned(), Some(user_message_id), reservation);
        self.app_reply(
            persona,
            &recent,
            session,
            (user_chars, caller.owner),
            notice,
            started,
        )
    }

    async fn regenerate(
        &self,
        caller: Caller,
        session_id: String,
        persona: &str,
        started: Instant,
    ) -> Result<Reply, ChatError> {
        validate::session_id(&session_id)?;
        let persona = validate::persona(&self.inner.personas, persona)?.clone();
        self.authorize(&caller, Action::Chat(&session_id)).await?;
        let reservation = self.live.reserve(&session_id)?;
        self.check_rate(&caller)?;
        self.check_quota(&caller).await?;
        let found = persist::begin_regenerate(
            &*self.inner.store,
            session_id.clone(),
            self.inner.history_messages + 1,
        )
        .await?;
        let (last_user, recent) = match found {
            Regeneration::Ready { last_user, context } => (last_user, context),
            Regeneration::UnknownSession => return Err(ChatError::unknown_session()),
            Regeneration::NothingToRegenerate => {
                return Err(ChatError::Invalid {
                    code: crate::api::ErrorCode::NothingToRegenerate,
                    message: "There is no message to answer again in this conversation.".to_owned(),
                    param: None,
                });
            }
        };
        let session = SessionReply::new(session_id, None, reservation);
        let user_chars = chars(&last_user.content);
        self.app_reply(
            persona,
            &recent,
            session,
            (user_chars, caller.owner),
            None,
            started,
        )
    }

    /// The app's reply in a stored session: its newest messages (`recent`) as the context,
    /// fitted to the model's; `notice` (moderation's) goes with any of the fitting.
    fn app_reply(
        &self,
        persona: Persona,
        recent: &[HistoryMessage],
        session: SessionReply,
        (user_chars, owner): (u64, Option<OwnerId>),
        notice: Option<String>,
        started: Instant,
    ) -> Result<Reply, ChatError> {
        let mut params = context(&persona, recent);
        let left_out = self.fit(&mut params)?;
        Ok(Reply::new(
            self.clone(),
            ReplyPlan {
                source: Source::App,
                session: Some(session),
                owner,
                persona,
                params,
                user_chars,
                notices: notice.into_iter().chain(left_out).collect(),
                started,
            },
        ))
    }

    async fn complete(
        &self,
        caller: Caller,
        conversation: Conversation,
        started: Instant,
    ) -> Result<Reply, ChatError> {
        let persona = validate::model(&self.inner.personas, &conversation.model)?.clone();
        let (temperature, max_tokens) = validate::conversation(&persona, &conversation)?;
        self.authorize(&caller, Action::Complete).await?;
        self.check_rate(&caller)?;
        self.check_quota(&caller).await?;
        let user_chars = conversation
            .messages
            .iter()
            .rev()
            .find(|said| said.speaker == Speaker::User)
            .map_or(0, |said| chars(&said.text));
        // Every user message is moderated (cached verdicts make repeated history free).
        let users = conversation
            .messages
            .iter()
            .filter(|said| said.speaker == Speaker::User);
        for said in users {
            let verdict = self
                .moderate(
                    &said.text,
                    Source::V1,
                    &persona,
                    (user_chars, caller.owner),
                    started,
                )
                .await?;
            if let Verdict::Unavailable(error) = verdict {
                return Err(error);
            }
        }
        let mut messages = Vec::with_capacity(conversation.messages.len() + 1);
        messages.push(WireMessage {
            role: "system",
            content: persona.system_prompt.clone(),
        });
        messages.extend(conversation.messages.into_iter().map(|said| WireMessage {
            role: said.speaker.role(),
            content: said.text,
        }));
        let params = ChatParams {
            messages,
            temperature,
            max_tokens,
        };
        Ok(Reply::new(
            self.clone(),
            ReplyPlan {
                source: Source::V1,
                session: None,
                owner: caller.owner,
                persona,
                params,
                user_chars,
                notices: Vec::new(),
                started,
            },
        ))
    }

    /// With the model's context size configured, leaves out the oldest stored messages that
    /// do not fit; the notice to give when some were. Without it, nothing is trimmed here (the
    /// reply trims once if the provider reports an overflow).
    fn fit(&self, params: &mut ChatParams) -> Result<Option<String>, ChatError> {
        let context_tokens = self.inner.context_tokens;
        if context_tokens == 0 {
            return Ok(None);
        }
        let budget = context::budget(context_tokens, params.max_tokens);
        match context::fit_to(params, budget) {
            Some(0) => Ok(None),
            Some(_) => Ok(Some(context::LEFT_OUT_NOTICE.to_owned())),
            None => Err(ChatError::ContextTooLong {
                limit: u32::try_from(context_tokens).ok(),
            }),
        }
    }

    /// Moderation's verdict on one message. A refusal ends the turn (counted once, in
    /// [`Self::record_refusal`]) and comes back as the error; an unavailable check is returned
    /// for the caller to decide what it keeps before answering with its error.
    /// `asker`: the message's length in characters and whose it is (for the usage row).
    async fn moderate(
        &self,
        text: &str,
        source: Source,
        persona: &Persona,
        asker: (u64, Option<OwnerId>),
        started: Instant,
    ) -> Result<Verdict, ChatError> {
        match self.inner.moderator.check(text).await {
            Decision::Allow => Ok(Verdict::Go(None)),
            Decision::AllowUnchecked { notice } => Ok(Verdict::Go(Some(notice))),
            Decision::Refuse {
                message,
                categories,
            } => {
                self.record_refusal(source, persona, asker, started);
                Err(ChatError::Refused {
                    message,
                    categories,
                })
            }
            Decision::Unavailable { message } => {
                Ok(Verdict::Unavailable(ChatError::ModerationUnavailable {
                    message,
                }))
            }
        }
    }

    /// A refused message ends its turn: counted once, here.
    fn record_refusal(
        &self,
        source: Source,
        persona: &Persona,
        (user_chars, owner): (u64, Option<OwnerId>),
        started: Instant,
    ) {
        let total = started.elapsed();
        self.inner
            .metrics
            .record_reply(source.name(), Outcome::Refused, None, total, (None, None));
        persist::record_usage(
            &*self.inner.store,
            UsageRecord {
                at_ms: self.inner.now_ms(),
                owner,
                source: source.name().to_owned(),
                persona: persona.id.clone(),
                outcome: Outcome::Refused.name().to_owned(),
                message_chars: user_chars,
                total_ms: super::millis(total),
                ..UsageRecord::default()
            },
        );
    }
}
