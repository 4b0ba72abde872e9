//! GTID positions of both flavours, for read-your-writes and replica-aware cache fills: MariaDB's
//! per-domain positions (`0-1-42,1-2-7`) and MySQL's GTID sets (`uuid:1-5:7,uuid2:1-3`, with MySQL
//! 8.4+ tags `uuid:tag:1-5`). One type holds either; a group never mixes flavours (the monitor takes
//! members of the other flavour out), so the two halves never meet in one comparison.

/// The most intervals a source keeps in a position (see [`GtidPos::bound_needed`],
/// [`GtidPos::bound_applied`]): MySQL sets fragment when one user's writes interleave with others'.
const MAX_INTERVALS: usize = 16;

/// A GTID position: what a write needs a replica to have applied, or what a replica has applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidPos {
    /// MariaDB: per replication domain, (domain, server, highest sequence number).
    domains: Vec<(u32, u32, u64)>,
    /// MySQL: per source (`uuid` or `uuid:tag`, lower case, sorted), sorted disjoint inclusive
    /// intervals with gaps between them.
    sets: Vec<(String, Vec<(u64, u64)>)>,
    /// A part could not be read: as a need, no position covers it (the read goes to the primary).
    unreadable: bool,
}

impl GtidPos {
    /// Parses a MariaDB position (`domain-server-seq[,…]`) or a MySQL GTID set (`uuid[:tag]:n[-m][:…]
    /// [,…]`, whitespace and newlines around parts allowed, as `@@gtid_executed` prints them).
    /// A part that is neither marks the position unreadable.
    pub fn parse(s: &str) -> Self {
        let mut out = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let ok = if part.contains(':') { out.parse_set_part(part) } else { out.parse_domain(part) };
            out.unreadable |= !ok;
        }
        out.normalize();
        out
    }

    fn parse_domain(&mut self, part: &str) -> bool {
        let mut it = part.split('-');
        let (Some(d), Some(server), Some(seq), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return false;
        };
        match (d.parse::<u32>(), server.parse::<u32>(), seq.parse::<u64>()) {
            (Ok(d), Ok(server), Ok(seq)) => {
                self.merge_domain(d, server, seq);
                true
            }
            _ => false,
        }
    }

    /// `uuid:1-5:7:tag:1-3`: intervals belong to the uuid until a tag starts a new source.
    fn parse_set_part(&mut self, part: &str) -> bool {
        let mut segments = part.split(':').map(str::trim);
        let Some(uuid) = segments.next().filter(|u| is_uuid(u)) else { return false };
        let uuid = uuid.to_ascii_lowercase();
        let mut source = uuid.clone();
        let mut intervals_seen = false;
        for seg in segments {
            if seg.starts_with(|c: char| c.is_ascii_digit()) {
                let Some(iv) = parse_interval(seg) else { return false };
                self.add_interval(&source, iv);
                intervals_seen = true;
            } else if is_tag(seg) {
                source = format!("{uuid}:{}", seg.to_ascii_lowercase());
                intervals_seen = false;
            } else {
                return false;
            }
        }
        // A uuid or tag with no interval after it says nothing.
        intervals_seen
    }

    fn merge_domain(&mut self, d: u32, server: u32, seq: u64) {
        match self.domains.iter_mut().find(|(d2, _, _)| *d2 == d) {
            Some((_, sv, s)) => {
                if seq > *s {
                    *s = seq;
                    *sv = server;
                }
            }
            None => self.domains.push((d, server, seq)),
        }
    }

    fn add_interval(&mut self, source: &str, iv: (u64, u64)) {
        match self.sets.iter_mut().find(|(s, _)| s == source) {
            Some((_, ivs)) => ivs.push(iv),
            None => self.sets.push((source.to_owned(), vec![iv])),
        }
    }

    /// Sorts sources and merges overlapping or adjacent intervals.
    fn normalize(&mut self) {
        self.sets.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, ivs) in &mut self.sets {
            ivs.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ivs.len());
            for &(lo, hi) in ivs.iter() {
                match merged.last_mut() {
                    Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                    _ => merged.push((lo, hi)),
                }
            }
            *ivs = merged;
        }
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.sets.is_empty() && !self.unreadable
    }

    /// Whether every part was read: an unreadable position cannot be waited for.
    pub fn is_readable(&self) -> bool {
        !self.unreadable
    }

    /// Whether this position includes every transaction of `other`: per MariaDB domain a sequence
    /// number at least as high; for MySQL, `other`'s set is a subset of this one.
    pub fn covers(&self, other: &GtidPos) -> bool {
        if other.unreadable {
            return false;
        }
        let domains = other
            .domains
            .iter()
            .all(|(d, _, seq)| self.domains.iter().any(|(d2, _, s2)| d2 == d && s2 >= seq));
        domains
            && other.sets.iter().all(|(source, need)| {
                let Some((_, have)) = self.sets.iter().find(|(s, _)| s == source) else { return false };
                // Both normalized: a needed interval lies within one applied interval or is missing.
                need.iter().all(|&(lo, hi)| have.iter().any(|&(a, b)| a <= lo && hi <= b))
            })
    }

    /// Raises this position to include `other` (MariaDB: per domain the highest; MySQL: the union).
    pub fn merge(&mut self, other: &GtidPos) {
        for &(d, server, seq) in &other.domains {
            self.merge_domain(d, server, seq);
        }
        for (source, ivs) in &other.sets {
            for &iv in ivs {
                self.add_interval(source, iv);
            }
        }
        self.unreadable |= other.unreadable;
        self.normalize();
    }

    /// Bounds a position that something needs (a write's): a source with too many intervals needs
    /// their hull instead, more than it needs (a source's GTIDs have no gaps on its primary, so a
    /// replica gets the hull too).
    pub fn bound_needed(&mut self) {
        for (_, ivs) in &mut self.sets {
            if ivs.len() > MAX_INTERVALS
                && let (Some(&(lo, _)), Some(&(_, hi))) = (ivs.first(), ivs.last())
            {
                *ivs = vec![(lo, hi)];
            }
        }
    }

    /// Bounds a position something has applied (a replica's): a source with too many intervals keeps
    /// its latest ones, claiming less than was applied.
    pub fn bound_applied(&mut self) {
        for (_, ivs) in &mut self.sets {
            if ivs.len() > MAX_INTERVALS {
                ivs.drain(..ivs.len() - MAX_INTERVALS);
            }
        }
        self.unreadable = false;
    }

    /// The GTID set the OWN_GTID session tracker reports (`SESSION_TRACK_GTIDS` data: an encoding
    /// byte, 0, then the set as a length-encoded string); `None` when it is not in that form.
    pub fn from_tracker(data: &[u8]) -> Option<Self> {
        let (&spec, rest) = data.split_first()?;
        if spec != 0 {
            return None;
        }
        let (len, n) = sluice_protocol::buf::lenenc_at(rest)?;
        let text = rest.get(n..n.checked_add(usize::try_from(len).ok()?)?)?;
        Some(Self::parse(std::str::from_utf8(text).ok()?))
    }
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() })
}

/// A GTID tag: a letter or underscore, then up to 31 letters, digits or underscores.
fn is_tag(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `n` or `n-m` with 1 ≤ n ≤ m.
fn parse_interval(s: &str) -> Option<(u64, u64)> {
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let n = s.parse().ok()?;
            (n, n)
        }
    };
    (lo >= 1 && lo <= hi).then_some((lo, hi))
}

impl std::fmt::Display for GtidPos {
    /// The server's own syntax (both functions that wait take it); an unreadable position adds `?`,
    /// so it parses back unreadable.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut std::fmt::Formatter<'_>| {
            let r = if first { Ok(()) } else { f.write_str(",") };
            first = false;
            r
        };
        for (d, server, seq) in &self.domains {
            sep(f)?;
            write!(f, "{d}-{server}-{seq}")?;
        }
        for (source, ivs) in &self.sets {
            sep(f)?;
            f.write_str(source)?;
            for &(lo, hi) in ivs {
                if lo == hi { write!(f, ":{lo}")? } else { write!(f, ":{lo}-{hi}")? }
            }
        }
        if self.unreadable {
            sep(f)?;
            f.write_str("?")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const B: &str = "4D22FA47-71CA-11E1-9E33-C80AA9429562";

    #[test]
    fn mariadb_positions_cover_per_domain() {
        let replica = GtidPos::parse("0-1-100,1-2-7");
        assert!(replica.covers(&GtidPos::parse("0-1-99")));
        assert!(replica.covers(&GtidPos::parse("0-3-100")));
        assert!(!replica.covers(&GtidPos::parse("0-1-101")));
        assert!(!replica.covers(&GtidPos::parse("2-1-1")));
        assert!(replica.covers(&GtidPos::parse("")));
        let mut p = GtidPos::parse("0-1-5");
        p.merge(&GtidPos::parse("0-1-9,3-1-1"));
        assert_eq!(p, GtidPos::parse("0-1-9,3-1-1"));
        assert_eq!(GtidPos::parse("0-1-9,3-2-1").to_string(), "0-1-9,3-2-1");
    }

    #[test]
    fn unreadable_parts_are_never_covered() {
        let g = GtidPos::parse("garbage,0-x-1");
        assert!(!g.is_empty() && !g.is_readable());
        assert!(!GtidPos::parse("0-1-100").covers(&GtidPos::parse("0-1-5,junk")));
        assert!(!GtidPos::parse("0-1-100").covers(&GtidPos::parse("0-1-5,?")));
        // It prints as something that parses back unreadable (the cache keeps GTIDs as text).
        assert!(!GtidPos::parse(&GtidPos::parse("0-1-5,junk").to_string()).is_readable());
        for bad in [&format!("{A}:0"), &format!("{A}:5-3"), &format!("{A}:1-x"), A, "nouuid:1-3"] {
            assert!(!GtidPos::parse(bad).is_readable(), "{bad}");
        }
        assert!(GtidPos::parse(" \n").is_empty());
    }

    #[test]
    fn mysql_sets_are_subsets() {
        // As @@gtid_executed prints it: upper or lower case, newline after the comma.
        let replica = GtidPos::parse(&format!("{A}:1-57:60-70,\n{B}:1-3"));
        assert!(replica.covers(&GtidPos::parse(&format!("{A}:23"))));
        assert!(replica.covers(&GtidPos::parse(&format!("{}:21-57", A.to_uppercase()))));
        assert!(replica.covers(&GtidPos::parse(&format!("{A}:1-57:60,{}:2", B.to_lowercase()))));
        assert!(!replica.covers(&GtidPos::parse(&format!("{A}:58"))));
        assert!(!replica.covers(&GtidPos::parse(&format!("{A}:57-60"))));
        assert!(!replica.covers(&GtidPos::parse(&format!("{B}:4"))));
        assert!(!replica.covers(&GtidPos::parse("5e11fa47-71ca-11e1-9e33-c80aa9429562:1")));
        // Adjacent intervals merge; the text is the server's syntax.
        let g = GtidPos::parse(&format!("{A}:5,{A}:1-4:6:9"));
        assert_eq!(g.to_string(), format!("{A}:1-6:9"));
        let mut u = GtidPos::parse(&format!("{A}:1-3"));
        u.merge(&GtidPos::parse(&format!("{A}:4-8,{B}:1")));
        assert_eq!(u.to_string(), format!("{A}:1-8,{}:1", B.to_lowercase()));
    }

    #[test]
    fn mysql_tags_are_sources_of_their_own() {
        let replica = GtidPos::parse(&format!("{A}:1-10:batch:1-5:Other_1:7"));
        assert!(replica.covers(&GtidPos::parse(&format!("{A}:batch:3"))));
        assert!(replica.covers(&GtidPos::parse(&format!("{A}:other_1:7,{A}:10"))));
        assert!(!replica.covers(&GtidPos::parse(&format!("{A}:batch:6"))));
        assert!(!replica.covers(&GtidPos::parse(&format!("{A}:nightly:1"))));
        assert_eq!(replica.to_string(), format!("{A}:1-10,{A}:batch:1-5,{A}:other_1:7"));
        assert_eq!(GtidPos::parse(&replica.to_string()), replica);
        assert!(!GtidPos::parse(&format!("{A}:batch")).is_readable());
    }

    #[test]
    fn bounds_widen_needs_and_shrink_haves() {
        let many: String = (1..=40).map(|n| format!("{A}:{}", n * 2)).collect::<Vec<_>>().join(",");
        let mut need = GtidPos::parse(&many);
        need.bound_needed();
        assert_eq!(need.to_string(), format!("{A}:2-80"));
        let mut have = GtidPos::parse(&many);
        have.bound_applied();
        assert!(have.covers(&GtidPos::parse(&format!("{A}:80"))));
        assert!(!have.covers(&GtidPos::parse(&format!("{A}:2"))));
        assert!(GtidPos::parse(&many).covers(&have));
    }

    #[test]
    fn the_own_gtid_tracker_entry() {
        let text = format!("{A}:42");
        let mut data = vec![0u8, u8::try_from(text.len()).unwrap()];
        data.extend_from_slice(text.as_bytes());
        assert_eq!(GtidPos::from_tracker(&data), Some(GtidPos::parse(&text)));
        assert_eq!(GtidPos::from_tracker(&[1, 0]), None);
        assert_eq!(GtidPos::from_tracker(&data[..5]), None);
    }
}
