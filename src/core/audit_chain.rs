//! Tamper evidence for the audit trail: each stored batch carries a hash of itself and of the
//! batch written before it, and the store keeps the newest link (the head) and the link the
//! oldest kept batch follows (the anchor, moved by pruning). Editing a batch, deleting one from
//! the middle or from the end breaks the chain where it happened; [`verify`] finds the first
//! break. Someone able to rewrite every later batch and the head could forge a consistent chain:
//! against that, keep the head `keymint audit verify` prints somewhere the database's writers
//! cannot reach.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};

use super::store::{KeyStore, StoreError};

/// A link: SHA-256.
pub type Link = [u8; 32];

/// What the first batch of a chain follows.
pub const GENESIS: Link = [0; 32];

/// The link of a batch written after `previous`.
pub fn link(previous: &Link, last_at_micros: i64, events: &str) -> Link {
    let mut input = Vec::with_capacity(16 + 32 + 8 + events.len());
    input.extend_from_slice(b"keymint audit/1\0");
    input.extend_from_slice(previous);
    input.extend_from_slice(&last_at_micros.to_be_bytes());
    input.extend_from_slice(events.as_bytes());
    let mut out = GENESIS;
    out.copy_from_slice(digest(&SHA256, &input).as_ref());
    out
}

/// A stored batch as verification reads it, in the order it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedBatch {
    pub id: i64,
    pub last_at_micros: i64,
    pub events: String,
    /// `None` for batches written before the trail was chained.
    pub link: Option<Vec<u8>>,
}

/// A position in the chain: a batch's id and link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainEnd {
    pub id: i64,
    pub link: Link,
}

/// The first place the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error("audit batch {id} was altered, or a batch before it was deleted")]
    Altered { id: i64 },
    #[error("audit batch {id} has no link, though batches before it were chained")]
    Unlinked { id: i64 },
    #[error("batches after {last} were deleted: the head names batch {head}")]
    Truncated { last: i64, head: i64 },
    #[error("the head names batch {head}, which does not hold its link")]
    HeadMismatch { head: i64 },
}

/// What an intact chain covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verified {
    /// Batches from before the trail was chained, read but not provable.
    pub unchained: u64,
    /// Chained batches checked.
    pub chained: u64,
    /// The newest link: keep it outside the database to detect a rewritten chain later.
    pub head: Option<ChainEnd>,
}

impl fmt::Display for ChainEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "batch {} ", self.id)?;
        self.link.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Walks batches in the order they were written, from the one after `anchor` (the last batch
/// pruned, if any) to `head`, feeding them page by page.
#[derive(Debug)]
pub struct Verifier {
    previous: Option<Link>,
    last_id: Option<i64>,
    verified: Verified,
}

impl Verifier {
    pub fn new(anchor: Option<ChainEnd>) -> Self {
        Self {
            previous: anchor.map(|end| end.link),
            last_id: anchor.map(|end| end.id),
            verified: Verified::default(),
        }
    }

    /// Checks the next batch.
    pub fn check(&mut self, batch: &ChainedBatch) -> Result<(), Break> {
        let Some(stored) = &batch.link else {
            if self.verified.chained > 0 {
                return Err(Break::Unlinked { id: batch.id });
            }
            self.verified.unchained += 1;
            self.last_id = Some(batch.id);
            return Ok(());
        };
        let expected = link(
            &self.previous.unwrap_or(GENESIS),
            batch.last_at_micros,
            &batch.events,
        );
        if stored.as_slice() != expected {
            return Err(Break::Altered { id: batch.id });
        }
        self.previous = Some(expected);
        self.last_id = Some(batch.id);
        self.verified.chained += 1;
        Ok(())
    }

    /// Ends the walk against the stored head.
    pub fn finish(mut self, head: Option<ChainEnd>) -> Result<Verified, Break> {
        if let Some(head) = head {
            match (self.last_id, self.previous) {
                (Some(last), Some(link)) if last == head.id => {
                    if link != head.link {
                        return Err(Break::HeadMismatch { head: head.id });
                    }
                }
                (last, _) if last.is_none_or(|last| last < head.id) => {
                    return Err(Break::Truncated {
                        last: last.unwrap_or(0),
                        head: head.id,
                    });
                }
                _ => return Err(Break::HeadMismatch { head: head.id }),
            }
        }
        self.verified.head = head;
        Ok(self.verified)
    }
}

/// Why verification stopped.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Break(#[from] Break),
    #[error("the audit trail could not be read")]
    Store(#[from] StoreError),
}

/// Verifies the stored chain from its anchor to the head read first (batches written during the
/// walk are left for the next run).
pub async fn verify_stored(store: &dyn KeyStore) -> Result<Verified, VerifyError> {
    const PAGE: u32 = 500;
    let (anchor, head) = store.audit_chain_ends().await?;
    let mut verifier = Verifier::new(anchor);
    let mut after = anchor.map_or(i64::MIN, |end| end.id);
    let last = head.map_or(i64::MAX, |end| end.id);
    loop {
        let page = store.audit_batches_after(after, PAGE).await?;
        for batch in page.iter().take_while(|batch| batch.id <= last) {
            verifier.check(batch)?;
        }
        match page.last() {
            Some(batch) if batch.id < last && page.len() == PAGE as usize => after = batch.id,
            _ => break,
        }
    }
    Ok(verifier.finish(head)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches 1..=n chained from genesis, and the head.
    fn chain(n: i64) -> (Vec<ChainedBatch>, Option<ChainEnd>) {
        let mut previous = GENESIS;
        let mut batches = Vec::new();
        for id in 1..=n {
            let events = format!("[[{id}]]");
            let next = link(&previous, id * 10, &events);
            batches.push(ChainedBatch {
                id,
                last_at_micros: id * 10,
                events,
                link: Some(next.to_vec()),
            });
            previous = next;
        }
        let head = batches.last().map(|b| ChainEnd {
            id: b.id,
            link: previous,
        });
        (batches, head)
    }

    fn verify(
        anchor: Option<ChainEnd>,
        batches: &[ChainedBatch],
        head: Option<ChainEnd>,
    ) -> Result<Verified, Break> {
        let mut verifier = Verifier::new(anchor);
        batches.iter().try_for_each(|b| verifier.check(b))?;
        verifier.finish(head)
    }

    #[test]
    fn an_untouched_chain_verifies_to_its_head() {
        let (batches, head) = chain(5);
        let verified = verify(None, &batches, head).unwrap();
        assert_eq!(verified.chained, 5);
        assert_eq!(verified.head, head);
        assert_eq!(verify(None, &[], None).unwrap(), Verified::default());
    }

    #[test]
    fn an_edited_batch_is_the_break() {
        let (mut batches, head) = chain(5);
        batches[2].events = "[[999]]".into();
        assert_eq!(verify(None, &batches, head), Err(Break::Altered { id: 3 }));
        let (mut batches, head) = chain(5);
        batches[1].last_at_micros += 1;
        assert_eq!(verify(None, &batches, head), Err(Break::Altered { id: 2 }));
    }

    #[test]
    fn a_batch_deleted_from_the_middle_breaks_the_next() {
        let (mut batches, head) = chain(5);
        batches.remove(1);
        assert_eq!(verify(None, &batches, head), Err(Break::Altered { id: 3 }));
    }

    #[test]
    fn batches_deleted_from_the_end_disagree_with_the_head() {
        let (mut batches, head) = chain(5);
        batches.truncate(3);
        assert_eq!(
            verify(None, &batches, head),
            Err(Break::Truncated { last: 3, head: 5 })
        );
        assert_eq!(
            verify(None, &[], head),
            Err(Break::Truncated { last: 0, head: 5 })
        );
    }

    #[test]
    fn a_pruned_prefix_is_no_break_when_the_anchor_names_it() {
        let (batches, head) = chain(5);
        let anchor = ChainEnd {
            id: 2,
            link: batches[1].link.clone().unwrap().try_into().unwrap(),
        };
        assert_eq!(
            verify(Some(anchor), &batches[2..], head).unwrap().chained,
            3
        );
        // Without the anchor, the first kept batch does not follow genesis.
        assert_eq!(
            verify(None, &batches[2..], head),
            Err(Break::Altered { id: 3 })
        );
    }

    #[test]
    fn batches_from_before_chaining_are_counted_not_proved() {
        let (mut chained, head) = chain(2);
        let old = ChainedBatch {
            id: 0,
            last_at_micros: 1,
            events: "[]".into(),
            link: None,
        };
        chained.insert(0, old.clone());
        let verified = verify(None, &chained, head).unwrap();
        assert_eq!((verified.unchained, verified.chained), (1, 2));
        let mut late = chained.clone();
        late.push(ChainedBatch { id: 3, ..old });
        assert_eq!(verify(None, &late, head), Err(Break::Unlinked { id: 3 }));
    }
}
