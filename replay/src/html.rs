//! `--html report.html`: the summary as one self-contained page (no scripts, no external files) with
//! inline SVG plots: latency over the replay's time per statement (log scale), and p50/p95/p99 then
//! vs now for the busiest digests.

use std::fmt::Write as _;

use super::report::{DigestRow, Summary};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const COLORS: [&str; 8] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// Latency (log scale) over replay time, one colour per digest (the 8 busiest).
fn scatter(digests: &[DigestRow]) -> String {
    let (w, h, pad) = (900.0, 300.0, 50.0);
    let top = &digests[..digests.len().min(COLORS.len())];
    let t_max = top.iter().flat_map(|d| d.samples.iter().map(|s| s.0)).max().unwrap_or(1).max(1) as f64;
    let l_max = top.iter().flat_map(|d| d.samples.iter().map(|s| s.1)).max().unwrap_or(1).max(10) as f64;
    let y = |us: u64| h - pad - ((us.max(1) as f64).log10() / l_max.log10()) * (h - 2.0 * pad);
    let mut s =
        format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-size="11">"#);
    let _ =
        write!(s, r#"<line x1="{pad}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#, h - pad, w - pad, h - pad);
    let _ = write!(s, r#"<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{}" stroke="black"/>"#, h - pad);
    let mut decade = 1u64;
    while (decade as f64) <= l_max {
        let label = if decade >= 1000 { format!("{}ms", decade / 1000) } else { format!("{decade}µs") };
        let _ = write!(s, r#"<text x="2" y="{:.1}">{label}</text>"#, y(decade) + 4.0);
        decade *= 10;
    }
    let _ = write!(s, r#"<text x="{}" y="{}">replay time {:.1}s</text>"#, w / 2.0, h - 15.0, t_max / 1e6);
    for (i, d) in top.iter().enumerate() {
        let step = (d.samples.len() / 2000).max(1);
        for &(t, l) in d.samples.iter().step_by(step) {
            let x = pad + (t as f64 / t_max) * (w - 2.0 * pad);
            let _ = write!(s, r#"<circle cx="{x:.1}" cy="{:.1}" r="1.5" fill="{}"/>"#, y(l), COLORS[i]);
        }
    }
    s.push_str("</svg>");
    s
}

/// p50/p95/p99 bars, then (light) vs now (dark), per busiest digest.
fn bars(digests: &[DigestRow]) -> String {
    let top = &digests[..digests.len().min(COLORS.len())];
    let (w, row_h, pad) = (900.0, 70.0, 10.0);
    let h = pad * 2.0 + row_h * top.len() as f64;
    let max = top
        .iter()
        .flat_map(|d| [d.then.map_or(0, |p| p.p99_us), d.now.map_or(0, |p| p.p99_us)])
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut s =
        format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-size="11">"#);
    for (i, d) in top.iter().enumerate() {
        let y0 = pad + i as f64 * row_h;
        let text: String = d.text.chars().take(110).collect();
        let _ = write!(s, r#"<text x="0" y="{:.1}" fill="{}">{}</text>"#, y0 + 10.0, COLORS[i], esc(&text));
        for (j, (name, then, now)) in [
            ("p50", d.then.map(|p| p.p50_us), d.now.map(|p| p.p50_us)),
            ("p95", d.then.map(|p| p.p95_us), d.now.map(|p| p.p95_us)),
            ("p99", d.then.map(|p| p.p99_us), d.now.map(|p| p.p99_us)),
        ]
        .into_iter()
        .enumerate()
        {
            let y = y0 + 16.0 + j as f64 * 16.0;
            let _ = write!(s, r#"<text x="0" y="{:.1}">{name}</text>"#, y + 10.0);
            for (k, (v, opacity)) in [(then, "0.35"), (now, "1")].into_iter().enumerate() {
                let Some(v) = v else { continue };
                let len = (v as f64 / max) * (w - 200.0);
                let yy = y + k as f64 * 7.0;
                let _ = write!(
                    s,
                    r#"<rect x="40" y="{yy:.1}" width="{len:.1}" height="6" fill="{}" fill-opacity="{opacity}"/><text x="{:.1}" y="{:.1}">{:.2}ms</text>"#,
                    COLORS[i],
                    45.0 + len,
                    yy + 6.0,
                    v as f64 / 1000.0
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

/// The report page.
pub fn render(s: &Summary) -> String {
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>sluice replay report</title><style>\
         body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td.t{text-align:left;font-family:monospace}\
         </style></head><body><h1>sluice replay report</h1>",
    );
    let _ = write!(
        h,
        "<p>{} ({} sessions, {} statements) replayed against <b>{}</b> at speed {}: {} replayed, {} skipped, {} writes. \
         Captured span {:.2}s, replay {:.2}s ({:.0} statements/s). Errors then {}, now {} ({} differ). \
         Order waits timed out: {}. Connect failures: {}.</p>",
        esc(s.format),
        s.sessions,
        s.statements,
        esc(&s.target),
        s.speed,
        s.replayed,
        s.skipped,
        s.writes,
        s.captured_span_s,
        s.elapsed_s,
        s.qps,
        s.errors_then,
        s.errors_now,
        s.error_mismatches,
        s.order_timeouts,
        s.connect_failures
    );
    h.push_str("<h2>Latency over the replay</h2>");
    h.push_str(&scatter(&s.digests));
    h.push_str("<h2>Percentiles then (light) vs now (dark)</h2>");
    h.push_str(&bars(&s.digests));
    h.push_str(
        "<h2>Digests</h2><table><tr><th>count</th><th>p50 then</th><th>p50 now</th><th>p95 then</th>\
         <th>p95 now</th><th>p99 then</th><th>p99 now</th><th>errors then</th><th>errors now</th><th>digest</th></tr>",
    );
    let cell = |p: Option<u64>| p.map_or_else(|| "-".to_owned(), |v| format!("{:.2}ms", v as f64 / 1000.0));
    for d in &s.digests {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=t>{}</td></tr>",
            d.count,
            cell(d.then.map(|p| p.p50_us)),
            cell(d.now.map(|p| p.p50_us)),
            cell(d.then.map(|p| p.p95_us)),
            cell(d.now.map(|p| p.p95_us)),
            cell(d.then.map(|p| p.p99_us)),
            cell(d.now.map(|p| p.p99_us)),
            d.errors_then,
            d.errors_now,
            esc(&d.text)
        );
    }
    h.push_str("</table>");
    if !s.error_diffs.is_empty() {
        h.push_str("<h2>Error differences</h2><table><tr><th>session</th><th>then</th><th>now</th><th>statement</th></tr>");
        for e in &s.error_diffs {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=t>{}</td></tr>",
                e.session,
                e.then,
                e.now,
                esc(&e.sql)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}
