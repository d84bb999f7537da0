//! Packing a sequence of messages into the batches a channel accepts:
//! at most so many entries and so many bytes each, in order. SQS and
//! EventBridge both limit a batch's entries and its total size; packing by
//! count alone let ten large messages make one request too long, which
//! failed every message in it (and the stream batch behind them).

use std::ops::Range;

/// A channel's batch limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Entries per request.
    pub entries: usize,
    /// Bytes per request, summed over its entries.
    pub bytes: usize,
}

/// SQS SendMessageBatch: 10 messages and 1 MiB in all.
pub const SQS_BATCH: BatchLimits = BatchLimits {
    entries: 10,
    bytes: 1024 * 1024,
};
/// One SQS message: 256 KiB, the queues' default `MaximumMessageSize`.
pub const SQS_MESSAGE_BYTES: usize = 256 * 1024;
/// EventBridge PutEvents: 10 entries and 256 KB in all (an entry's size
/// is its time, source, detail-type and detail).
pub const EVENTBRIDGE_BATCH: BatchLimits = BatchLimits {
    entries: 10,
    bytes: 256 * 1000,
};

/// Consecutive ranges of `sizes` that each fit `limits`, covering every
/// index in order. An entry larger than `limits.bytes` gets a range of
/// its own (the caller refuses it; it never takes others down with it).
pub fn pack(sizes: &[usize], limits: BatchLimits) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (index, &size) in sizes.iter().enumerate() {
        let full = index - start == limits.entries || bytes.saturating_add(size) > limits.bytes;
        if index > start && full {
            batches.push(start..index);
            (start, bytes) = (index, 0);
        }
        bytes = bytes.saturating_add(size);
    }
    if start < sizes.len() {
        batches.push(start..sizes.len());
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BatchLimits = BatchLimits {
        entries: 3,
        bytes: 100,
    };

    #[test]
    fn packs_by_count_and_by_bytes_in_order() {
        assert_eq!(pack(&[], LIMITS), Vec::<Range<usize>>::new());
        assert_eq!(pack(&[1; 7], LIMITS), vec![0..3, 3..6, 6..7]);
        assert_eq!(pack(&[60, 50, 40, 10, 100], LIMITS), vec![0..1, 1..4, 4..5]);
        // Exactly the limit fits; one byte more does not.
        assert_eq!(pack(&[50, 50], LIMITS), vec![0..2]);
        assert_eq!(pack(&[50, 51], LIMITS), vec![0..1, 1..2]);
    }

    #[test]
    fn an_oversized_entry_is_alone() {
        assert_eq!(pack(&[10, 500, 10], LIMITS), vec![0..1, 1..2, 2..3]);
    }

    /// Ten messages of 180 KB (the repro) are not one SQS batch.
    #[test]
    fn ten_large_messages_take_several_sqs_batches() {
        let batches = pack(&[180_000; 10], SQS_BATCH);
        assert!(batches.len() >= 2);
        for batch in &batches {
            assert!(batch.len() * 180_000 <= SQS_BATCH.bytes);
        }
        assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), 10);
    }

    proptest::proptest! {
        #[test]
        fn every_batch_fits_and_nothing_is_lost(sizes in proptest::collection::vec(0usize..150, 0..40)) {
            let batches = pack(&sizes, LIMITS);
            let mut next = 0;
            for batch in batches {
                proptest::prop_assert_eq!(batch.start, next);
                proptest::prop_assert!(!batch.is_empty() && batch.len() <= LIMITS.entries);
                let bytes: usize = sizes[batch.clone()].iter().sum();
                proptest::prop_assert!(bytes <= LIMITS.bytes || batch.len() == 1);
                next = batch.end;
            }
            proptest::prop_assert_eq!(next, sizes.len());
        }
    }
}
