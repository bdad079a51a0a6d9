package io.roster.spi;

import org.slf4j.Logger;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Logs a problem with a record another client wrote (a malformed instance, an unusable endpoint) once per record,
 * not on every read: a watch or a poll reads the same bad record again and again, and one line per read would bury
 * everything else. A record is known by where it was read and its content, so a record that is rewritten, still
 * bad, is logged again. The last 4096 records are remembered; repeats are logged at DEBUG.
 *
 * <pre>{@code
 * BadRecords.warnOnce(LOG, "etcd key " + key, value, "skipped: " + e.getMessage());
 * }</pre>
 */
public final class BadRecords {
    private static final int REMEMBERED = 4096;
    private static final Map<String, Boolean> SEEN = new LinkedHashMap<>(256, 0.75f, true) {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > REMEMBERED;
        }
    };

    private BadRecords() {
    }

    /**
     * Logs a problem with a record at WARN the first time, at DEBUG after that.
     *
     * @param log the backend's logger
     * @param source where the record was read, such as {@code etcd key /microservices/greeter/1}
     * @param record the record's content (or anything that changes when it does)
     * @param problem what is wrong and what was done about it; must not contain secrets (see
     *     {@link RegistryUri#redact})
     * @return true when this call logged at WARN
     */
    public static boolean warnOnce(Logger log, String source, Object record, String problem) {
        String key = source + '\n' + Objects.hashCode(record) + '\n' + problem;
        boolean first;
        synchronized (SEEN) {
            first = SEEN.put(key, Boolean.TRUE) == null;
        }
        if (first) {
            log.warn("Record at {}: {}", source, problem);
        } else {
            log.debug("Record at {} (logged before): {}", source, problem);
        }
        return first;
    }
}
