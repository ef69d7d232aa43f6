//! Daily budgets: messages and tokens per owner and UTC day (smaller for guests), counted from
//! the usage rows and checked before the model is asked.

use super::{Caller, Chat, ChatError, QuotaKind};
use crate::{api::Quota, store::OwnerId};

const DAY_MS: i64 = 24 * 3600 * 1000;

impl Chat {
    /// The owner's budget for today and what is used of it; `None`: no such owner.
    pub async fn quota(&self, owner: OwnerId) -> Result<Option<Quota>, ChatError> {
        let now = self.inner.now_ms();
        let day_start = now - now.rem_euclid(DAY_MS);
        // Rows of replies that just finished are still queued: count them too.
        self.inner.store.flush_usage().await?;
        let Some(used) = self.inner.store.usage_since(owner, day_start).await? else {
            return Ok(None);
        };
        let limits = if used.user {
            self.inner.quotas.user
        } else {
            self.inner.quotas.guest
        };
        Ok(Some(Quota {
            messages_used: used.messages,
            messages_limit: limits.messages,
            tokens_used: used.tokens,
            tokens_limit: limits.tokens,
            resets_at_ms: day_start + DAY_MS,
        }))
    }

    /// Refuses a turn whose owner has used up today's messages or tokens. Operator keys and an
    /// open `/v1` (no owner) have no budget.
    pub(super) async fn check_quota(&self, caller: &Caller) -> Result<(), ChatError> {
        let Some(owner) = caller.owner else {
            return Ok(());
        };
        let unlimited = |limits: crate::config::Limits| limits.messages == 0 && limits.tokens == 0;
        if unlimited(self.inner.quotas.user) && unlimited(self.inner.quotas.guest) {
            // No budget to check: spare the turn two trips to the store.
            return Ok(());
        }
        let Some(quota) = self.quota(owner).await? else {
            return Ok(());
        };
        let over = |used: u64, limit: u64| limit > 0 && used >= limit;
        let (what, limit) = if over(quota.messages_used, quota.messages_limit) {
            (QuotaKind::Messages, quota.messages_limit)
        } else if over(quota.tokens_used, quota.tokens_limit) {
            (QuotaKind::Tokens, quota.tokens_limit)
        } else {
            return Ok(());
        };
        let wait_ms = (quota.resets_at_ms - self.inner.now_ms()).max(0);
        Err(ChatError::QuotaExceeded {
            what,
            limit,
            resets_at_ms: quota.resets_at_ms,
            retry_after_secs: u64::try_from((wait_ms + 999) / 1000).unwrap_or(0),
        })
    }
}
