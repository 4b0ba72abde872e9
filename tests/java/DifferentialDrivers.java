// MariaDB Connector/J with its own defaults through sluice, compared with the same steps on a direct
// connection to the primary. Run by tests/tests/proxy/differential/drivers.rs
// (differential_jdbc_matches_direct_connections), which compiles it with javac against
// /usr/share/java/mariadb-java-client.jar (Debian: apt-get install libmariadb-java).
//
// Environment: SLUICE_PORTS (comma-separated: each is tested), DIRECT_PORT, REPLICA_PORTS, SCHEMA,
// SEED, SESSIONS, STEPS, CONCURRENT, VARIANTS (text,serverprep), CATALOGUE (tests/drivers/catalogue.tsv).
// User app/app on both sides. Exits 1 with every divergence on stderr.
//
// Per port and variant ("text": the driver's defaults; "serverprep": useServerPrepStmts=true, every
// step through a PreparedStatement, which the driver prepares on the server where it can): the
// reported lost-writes sequence, the scripted sessions of the catalogue, SESSIONS seeded sessions one
// after another, CONCURRENT seeded sessions at once. Each step runs through sluice and on the twin's
// own direct connection; the answers (columns and rows as text, update count, generated keys, the
// warnings the driver reports, autocommit and in-transaction status from the server's status flags,
// or the error code, SQLSTATE and message) must be equal. After each session the twins' tables are
// read on the primary directly: their committed rows must be equal too (no lost writes).

import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLWarning;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

public class DifferentialDrivers {
    static final String SCHEMA = env("SCHEMA", "");
    static final int DIRECT = Integer.parseInt(env("DIRECT_PORT", "0"));
    static final Map<String, String> PROBES = new LinkedHashMap<>();
    static final Map<String, List<String>> CHOICES = new LinkedHashMap<>();
    static final Map<String, Integer> WEIGHTS = new LinkedHashMap<>();
    static final Map<String, Integer> COVERAGE = Collections.synchronizedMap(new TreeMap<>());
    static final List<String> FAILURES = Collections.synchronizedList(new ArrayList<>());
    static final long PID = ProcessHandle.current().pid();

    static String env(String k, String d) {
        String v = System.getenv(k);
        return v == null || v.isEmpty() ? d : v;
    }

    static String url(int port, String variant) {
        String u = "jdbc:mariadb://127.0.0.1:" + port + "/" + SCHEMA + "?user=app&password=app";
        return variant.equals("serverprep") ? u + "&useServerPrepStmts=true" : u;
    }

    static void loadCatalogue(Path p) throws Exception {
        String last = null;
        for (String line : Files.readAllLines(p, StandardCharsets.UTF_8)) {
            if (line.isEmpty() || line.startsWith("#")) continue;
            String[] f = line.split("\t", 3);
            if (f[0].startsWith("@")) {
                PROBES.put(f[0], f[2]);
                continue;
            }
            if (!f[0].equals(last)) WEIGHTS.put(f[0], Integer.parseInt(f[1]));
            last = f[0];
            CHOICES.computeIfAbsent(f[0], k -> new ArrayList<>()).add(f[2]);
        }
    }

    /** mulberry32, as in tests/node/differential_drivers.js. */
    static final class Rng {
        int a;

        Rng(int seed) {
            a = seed;
        }

        double next() {
            a += 0x6D2B79F5;
            int t = (a ^ (a >>> 15)) * (1 | a);
            t = (t + ((t ^ (t >>> 7)) * (61 | t))) ^ t;
            return ((t ^ (t >>> 14)) & 0xffffffffL) / 4294967296.0;
        }

        int below(int n) {
            return (int) Math.floor(next() * n);
        }
    }

    static final Method GET_PROTOCOL;

    static {
        try {
            GET_PROTOCOL = org.mariadb.jdbc.MariaDbConnection.class.getDeclaredMethod("getProtocol");
            GET_PROTOCOL.setAccessible(true);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException("Connector/J without MariaDbConnection.getProtocol()", e);
        }
    }

    static final class Twin {
        final int port;
        final String variant, tag, lock;
        Connection conn;

        Twin(int port, String variant, String tag) {
            this.port = port;
            this.variant = variant;
            this.tag = tag;
            this.lock = "lk_" + PID + "_" + tag;
        }

        String resolve(String s) {
            return s.replace("{tmp}", "tmp_" + tag).replace("{lk}", lock).replace("{other}", SCHEMA + "_o")
                    .replace("{db}", SCHEMA).replace("{t}", "t_" + tag).replace("{d}", "d_" + tag);
        }

        String normalize(String s) {
            // Connector/J names the server's thread id in its messages: sluice's differs by design.
            return s.replace(lock, "{lk}").replace(tag, "TAG").replaceAll("\\(conn[=:]\\d+\\)", "(conn=N)");
        }

        String status() throws Exception {
            Object protocol = GET_PROTOCOL.invoke(conn.unwrap(org.mariadb.jdbc.MariaDbConnection.class));
            boolean inTrans = ((org.mariadb.jdbc.internal.protocol.Protocol) protocol).inTransaction();
            return "autocommit=" + conn.getAutoCommit() + " in_trans=" + inTrans;
        }

        String api(String what) throws Exception {
            switch (what) {
                case "autocommit_on" -> conn.setAutoCommit(true);
                case "autocommit_off" -> conn.setAutoCommit(false);
                case "commit" -> conn.commit();
                case "rollback" -> conn.rollback();
                case "ping" -> {
                    return "valid=" + conn.isValid(5) + "; " + status();
                }
                case "reconnect" -> {
                    // The client goes away without COM_QUIT (abort closes the socket).
                    try {
                        conn.abort(Runnable::run);
                    } catch (SQLException e) {
                        conn.close();
                    }
                    conn = DriverManager.getConnection(url(port, variant));
                    // The server frees the old connection's named lock when it notices the socket
                    // close (through sluice: when sluice resets the backend connection): wait for it.
                    try (Statement st = conn.createStatement()) {
                        for (int i = 0; i < 250; i++) {
                            try (ResultSet rs = st.executeQuery(resolve("SELECT IS_USED_LOCK('{lk}') IS NULL"))) {
                                if (rs.next() && rs.getInt(1) == 1) break;
                            }
                            Thread.sleep(20);
                        }
                    }
                    return "reconnected";
                }
                default -> throw new IllegalArgumentException(what);
            }
            return what + " ok; " + status();
        }

        String run(String step) {
            String out;
            try {
                if (conn == null) conn = DriverManager.getConnection(url(port, variant));
                if (step.startsWith("API ")) return normalize(api(step.substring(4)));
                String sql = resolve(PROBES.getOrDefault(step, step));
                StringBuilder b = new StringBuilder();
                Statement st;
                boolean isRs;
                if (variant.equals("serverprep")) {
                    PreparedStatement ps = conn.prepareStatement(sql, Statement.RETURN_GENERATED_KEYS);
                    st = ps;
                    isRs = ps.execute();
                } else {
                    st = conn.createStatement();
                    isRs = st.execute(sql, Statement.RETURN_GENERATED_KEYS);
                }
                try (st) {
                    if (isRs) {
                        try (ResultSet rs = st.getResultSet()) {
                            ResultSetMetaData md = rs.getMetaData();
                            b.append("cols=[");
                            for (int i = 1; i <= md.getColumnCount(); i++) b.append(md.getColumnLabel(i)).append(',');
                            b.append("] rows=[");
                            while (rs.next()) {
                                b.append('(');
                                for (int i = 1; i <= md.getColumnCount(); i++) b.append(rs.getString(i)).append(',');
                                b.append(')');
                            }
                            b.append(']');
                        }
                    } else {
                        b.append("update=").append(st.getUpdateCount()).append(" keys=[");
                        try (ResultSet k = st.getGeneratedKeys()) {
                            while (k.next()) b.append(k.getString(1)).append(',');
                        }
                        b.append(']');
                    }
                    b.append(" warnings=[");
                    for (SQLWarning w = st.getWarnings(); w != null; w = w.getNextWarning()) {
                        b.append(w.getErrorCode()).append(' ').append(w.getMessage()).append(';');
                    }
                    b.append("]; ").append(status());
                }
                out = b.toString();
            } catch (Exception e) {
                if (e instanceof SQLException s) {
                    out = "ERROR " + s.getErrorCode() + " " + s.getSQLState() + " " + s.getMessage();
                } else {
                    out = "ERROR " + e;
                }
                try {
                    if (e instanceof SQLNonTransientConnectionException || conn == null || conn.isClosed()) conn = null;
                } catch (SQLException ignored) {
                    conn = null;
                }
            }
            return normalize(out);
        }

        void close() {
            try {
                if (conn != null) conn.close();
            } catch (SQLException ignored) {
                // gone already
            }
            conn = null;
        }
    }

    static void direct(String... sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(url(DIRECT, "text") + "&allowMultiQueries=true");
                Statement st = c.createStatement()) {
            for (String s : sql) st.execute(s);
        }
    }

    static String directRead(String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(url(DIRECT, "text"));
                Statement st = c.createStatement();
                ResultSet rs = st.executeQuery(sql)) {
            StringBuilder b = new StringBuilder();
            int n = rs.getMetaData().getColumnCount();
            while (rs.next()) for (int i = 1; i <= n; i++) b.append(rs.getString(i)).append(' ');
            return b.toString().trim();
        }
    }

    /** The reported sequence: autocommit off, read, commit, disconnect; then autocommit clients write. */
    static void reported(int port, String variant) throws Exception {
        String table = "rep_" + variant + "_" + port;
        direct("CREATE TABLE " + table + " (id INT PRIMARY KEY AUTO_INCREMENT, v INT)");
        waitReplicas();
        try (Connection c = DriverManager.getConnection(url(port, variant))) {
            c.setAutoCommit(false);
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
                rs.next();
            }
            c.commit();
        }
        int sessions = 5, each = 20;
        for (int s = 0; s < sessions; s++) {
            try (Connection c = DriverManager.getConnection(url(port, variant));
                    PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " (v) VALUES (?)")) {
                for (int i = 0; i < each; i++) {
                    ps.setInt(1, s * 100 + i);
                    ps.executeUpdate();
                }
            }
        }
        String n = directRead("SELECT COUNT(*) FROM " + table);
        if (!n.equals(String.valueOf(sessions * each))) {
            FAILURES.add("[" + variant + " port " + port + "] reported sequence: setAutoCommit(false); SELECT 1;"
                    + " commit(); close(); then " + sessions + " x (connect (autocommit=true, the JDBC default); "
                    + each + " x INSERT; close()): primary has " + n + " rows, expected " + sessions * each
                    + " (acknowledged writes lost)");
        }
    }

    static String tag(String variant, int portIdx, char side, String phase, int sid) {
        return "j" + variant.charAt(0) + portIdx + phase.charAt(1) + side + sid + "y";
    }

    static List<String> tables(String variant, int portIdx, String phase, int n) {
        List<String> sql = new ArrayList<>();
        for (int sid = 0; sid < n; sid++) {
            for (char side : new char[] {'s', 'd'}) {
                String t = "t_" + tag(variant, portIdx, side, phase, sid);
                sql.add("CREATE TABLE " + t + " (id INT PRIMARY KEY AUTO_INCREMENT, v INT, s VARCHAR(8))");
                sql.add("INSERT INTO " + t + " (v, s) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
            }
        }
        return sql;
    }

    /** Waits until every replica has the schema's tables (sluice may read there before any write). */
    static void waitReplicas() throws Exception {
        String q = "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '" + SCHEMA + "'";
        String want = directRead(q);
        for (String p : env("REPLICA_PORTS", "").split(",")) {
            if (p.isEmpty()) continue;
            String u = "jdbc:mariadb://127.0.0.1:" + p + "/?user=app&password=app";
            for (int i = 0; i < 500; i++) {
                try (Connection c = DriverManager.getConnection(u);
                        Statement st = c.createStatement();
                        ResultSet rs = st.executeQuery(q)) {
                    rs.next();
                    if (rs.getString(1).equals(want)) break;
                }
                Thread.sleep(20);
            }
        }
    }

    /** One session: its steps (scripted, or drawn from the catalogue) on both twins. */
    static void session(int port, int portIdx, String variant, String phase, int sid, List<String> script,
            int steps, int seed) {
        String label = "[" + variant + " port " + port + "] " + phase + " session " + sid;
        Twin s = new Twin(port, variant, tag(variant, portIdx, 's', phase, sid));
        Twin d = new Twin(DIRECT, variant, tag(variant, portIdx, 'd', phase, sid));
        Rng r = new Rng(seed * 31 + sid * 1000003 + portIdx * 7919 + phase.length() * 131 + variant.length());
        List<String> names = new ArrayList<>();
        int total = 0;
        for (var e : WEIGHTS.entrySet()) {
            if (e.getValue() > 0) {
                names.add(e.getKey());
                total += e.getValue();
            }
        }
        List<String> plan = new ArrayList<>(List.of("@READ_STATE"));
        List<String> history = new ArrayList<>();
        int n = script != null ? script.size() + 1 : steps;
        for (int i = 0; i < n; i++) {
            String entry, step;
            if (!plan.isEmpty()) {
                entry = "read_state";
                step = plan.remove(plan.size() - 1);
            } else if (script != null) {
                entry = "script";
                step = script.get(i - 1);
            } else {
                int x = r.below(total);
                entry = names.get(0);
                for (String name : names) {
                    entry = name;
                    x -= WEIGHTS.get(name);
                    if (x < 0) break;
                }
                List<String> ch = CHOICES.get(entry);
                step = ch.get(r.below(ch.size())).replace("{k}", String.valueOf(1 + r.below(9)));
                if (step.equals("API reconnect")) plan = new ArrayList<>(List.of("@READ_STATE2", "@READ_STATE"));
            }
            COVERAGE.merge(entry, 1, Integer::sum);
            String a = s.run(step), b = d.run(step);
            history.add(String.format("  %3d [%s] %s%n        -> %s", i, entry, step, b));
            if (!a.equals(b)) {
                FAILURES.add(label + ": DIVERGENCE seed=" + seed + " step=" + i + " entry=" + entry + "\n  statement: "
                        + step + "\n  sluice: " + a + "\n  direct: " + b + "\n  sequence so far (direct answers):\n"
                        + String.join("\n", history));
                break;
            }
        }
        s.close();
        d.close();
        // Committed rows of both twins, read on the primary directly: an acknowledged write that sluice
        // lost (or one it kept that the direct twin rolled back) shows here.
        try {
            String q = "SELECT COUNT(*), COALESCE(SUM(v), 0), GROUP_CONCAT(CONCAT(id, ':', COALESCE(v, 'N'), ':', s)"
                    + " ORDER BY id) FROM t_";
            String rs = directRead(q + s.tag), rd = directRead(q + d.tag);
            if (!rs.equals(rd)) {
                FAILURES.add(label + ": rows on the primary after the session differ\n  sluice twin: " + rs
                        + "\n  direct twin: " + rd + "\n  sequence (direct answers):\n" + String.join("\n", history));
            }
        } catch (SQLException e) {
            FAILURES.add(label + ": reading the twins' tables: " + e);
        }
    }

    public static void main(String[] args) throws Exception {
        loadCatalogue(Path.of(env("CATALOGUE", "tests/drivers/catalogue.tsv")));
        int seed = Integer.parseInt(env("SEED", "24301"));
        int sessions = Integer.parseInt(env("SESSIONS", "10"));
        int steps = Integer.parseInt(env("STEPS", "40"));
        int concurrent = Integer.parseInt(env("CONCURRENT", "4"));
        List<String> variants = List.of(env("VARIANTS", "text,serverprep").split(","));
        List<String> ports = List.of(env("SLUICE_PORTS", "0").split(","));
        direct("CREATE DATABASE IF NOT EXISTS `" + SCHEMA + "_o`");
        List<String> scripts = new ArrayList<>();
        for (String k : CHOICES.keySet()) if (k.startsWith("script_")) scripts.add(k);
        List<String> setup = new ArrayList<>();
        for (String variant : variants) {
            for (int pi = 0; pi < ports.size(); pi++) {
                setup.addAll(tables(variant, pi, "seq", sessions));
                setup.addAll(tables(variant, pi, "conc", concurrent));
                setup.addAll(tables(variant, pi, "script", scripts.size()));
            }
        }
        direct(String.join(";\n", setup));
        waitReplicas();
        ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, concurrent));
        for (String variant : variants) {
            for (int pi = 0; pi < ports.size(); pi++) {
                int port = Integer.parseInt(ports.get(pi)), portIdx = pi;
                try {
                    reported(port, variant);
                } catch (Exception e) {
                    FAILURES.add("[" + variant + " port " + port + "] reported sequence raised: " + e);
                }
                for (int i = 0; i < scripts.size(); i++) {
                    session(port, pi, variant, "script", i, CHOICES.get(scripts.get(i)), 0, seed);
                }
                for (int sid = 0; sid < sessions; sid++) session(port, pi, variant, "seq", sid, null, steps, seed);
                List<Future<?>> running = new ArrayList<>();
                for (int sid = 0; sid < concurrent; sid++) {
                    int id = sid;
                    running.add(pool.submit(() -> session(port, portIdx, variant, "conc", id, null, steps, seed)));
                }
                for (Future<?> f : running) f.get();
            }
        }
        pool.shutdown();
        System.err.println("jdbc variants " + variants + ", ports " + ports + ", seed " + seed + ": coverage " + COVERAGE);
        if (!FAILURES.isEmpty()) {
            System.err.println(FAILURES.size() + " failure(s):\n\n" + String.join("\n\n", FAILURES));
            System.exit(1);
        }
        System.err.println("OK");
    }
}
