//! The static memory plan: every arena tensor gets an offset from a greedy,
//! lifetime-based planner (as TFLite Micro's GreedyMemoryPlanner): tensors are
//! placed largest first at the lowest 16-aligned offset that does not overlap any
//! already placed tensor whose lifetime intersects its own.

/// One buffer to place: `bytes` long, live from op `first` to op `last` inclusive.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub bytes: usize,
    pub first: usize,
    pub last: usize,
}

const ALIGN: usize = edgerun::format::ALIGN;

/// Offsets for every item (same order) and the total arena size.
pub fn plan(items: &[Item]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| items[b].bytes.cmp(&items[a].bytes).then(a.cmp(&b)));
    let mut offsets = vec![0usize; items.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut total = 0usize;
    for &i in &order {
        let it = items[i];
        let size = it.bytes.div_ceil(ALIGN).saturating_mul(ALIGN);
        // Occupied ranges of live-overlapping placed items, sorted by offset.
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| items[j].first <= it.last && it.first <= items[j].last)
            .map(|&j| {
                (
                    offsets[j],
                    offsets[j].saturating_add(items[j].bytes.div_ceil(ALIGN).saturating_mul(ALIGN)),
                )
            })
            .collect();
        busy.sort();
        let mut at = 0usize;
        for (s, e) in busy {
            if at.saturating_add(size) <= s {
                break;
            }
            at = at.max(e);
        }
        offsets[i] = at;
        total = total.max(at.saturating_add(size));
        placed.push(i);
    }
    (offsets, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disjoint_lifetimes_share_memory() {
        let items = [
            Item {
                bytes: 100,
                first: 0,
                last: 1,
            },
            Item {
                bytes: 100,
                first: 1,
                last: 2,
            },
            Item {
                bytes: 100,
                first: 2,
                last: 3,
            },
        ];
        let (off, total) = plan(&items);
        assert_eq!(total, 224); // two 112-byte slots
        assert_eq!(off[0], off[2]);
        assert_ne!(off[0], off[1]);
    }

    #[test]
    fn no_live_overlap_random() {
        // Brute-force check of the invariant on pseudo-random lifetimes.
        let mut seed = 12345u64;
        let mut rnd = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % m
        };
        for _ in 0..50 {
            let items: Vec<Item> = (0..20)
                .map(|_| {
                    let first = rnd(30);
                    Item {
                        bytes: 1 + rnd(1000),
                        first,
                        last: first + rnd(5),
                    }
                })
                .collect();
            let (off, total) = plan(&items);
            for a in 0..items.len() {
                assert!(off[a] % ALIGN == 0 && off[a] + items[a].bytes <= total);
                for b in 0..a {
                    let live = items[a].first <= items[b].last && items[b].first <= items[a].last;
                    let mem = off[a] < off[b] + items[b].bytes && off[b] < off[a] + items[a].bytes;
                    assert!(!(live && mem), "{a} and {b} overlap");
                }
            }
        }
    }
}
