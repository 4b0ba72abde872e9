//! Result cache for sluice: cache keys, the L1 in-process store, the L2 Redis store, table generations and invalidation.
