//! A quantile estimated from an explicit-bucket histogram, as Prometheus'
//! `histogram_quantile` does: find the bucket that holds the rank, interpolate linearly
//! inside it. The histogram's own min and max (when sent) bound the first and last bucket.

pub fn from_buckets(
    q: f64,
    counts: &[u64],
    bounds: &[f64],
    min: Option<f64>,
    max: Option<f64>,
) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 || counts.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &count) in counts.iter().enumerate() {
        if count > 0 && (below + count) as f64 >= rank {
            let lower = if i == 0 {
                min.unwrap_or(0.0).min(bounds[0])
            } else {
                bounds[i - 1]
            };
            let upper = match bounds.get(i) {
                Some(&bound) => bound,
                // The +Inf bucket: the largest value seen, else the last bound.
                None => max.unwrap_or(lower),
            };
            let within = (rank - below as f64) / count as f64;
            let estimate = lower + (upper - lower) * within;
            return Some(match (min, max) {
                (Some(min), Some(max)) => estimate.clamp(min, max),
                _ => estimate,
            });
        }
        below += count;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::from_buckets;

    #[test]
    fn interpolates_inside_the_bucket_of_the_rank() {
        // 10 values in (0, 1], 10 in (1, 2]: the median is at the top of the first bucket.
        let counts = [10, 10, 0];
        let bounds = [1.0, 2.0];
        assert_eq!(from_buckets(0.5, &counts, &bounds, None, None), Some(1.0));
        assert_eq!(from_buckets(0.75, &counts, &bounds, None, None), Some(1.5));
        assert_eq!(
            from_buckets(0.5, &counts, &bounds, Some(0.2), Some(1.8)),
            Some(1.0)
        );
    }

    #[test]
    fn overflow_bucket_uses_the_max_and_empty_histograms_have_none() {
        let counts = [0, 0, 4];
        let bounds = [1.0, 2.0];
        assert_eq!(
            from_buckets(0.5, &counts, &bounds, Some(2.5), Some(6.0)),
            Some(4.0)
        );
        assert_eq!(from_buckets(0.5, &[0, 0, 0], &bounds, None, None), None);
        assert_eq!(
            from_buckets(0.5, &[1, 2], &bounds, None, None),
            None,
            "malformed"
        );
    }
}
