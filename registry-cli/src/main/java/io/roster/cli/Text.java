package io.roster.cli;

import io.roster.spi.Inspection;
import io.roster.spi.RegistryUri;

import java.util.regex.Pattern;

/** Text shown to a person: safe for a terminal, without secrets, on one line where a line is promised. */
final class Text {
    /** User info in any URL: everything between {@code ://} and the last {@code @} before a quote or space. */
    private static final Pattern USER_INFO = Pattern.compile("([A-Za-z][A-Za-z0-9+.-]*://)[^/\\s\"'<>]*@");

    private Text() {
    }

    /** Escapes control characters (a record's id or key may hold any), as problem details are escaped. */
    static String printable(String text) {
        return text == null ? "" : Inspection.printable(text);
    }

    /** Masks user info in the URLs a record's text holds, such as an endpoint {@code grpc://user:pw@host:9000}. */
    static String masked(String text) {
        return text == null ? null : USER_INFO.matcher(text).replaceAll("$1***@");
    }

    /**
     * A message for one line of stderr, line breaks folded. Its parts must be masked already: the URI shown by
     * {@link RegistryUri#redact}, a failure's message likewise (masking the whole text would swallow everything
     * after a secret option).
     */
    static String oneLine(String message) {
        String text = message == null ? "" : message;
        return printable(text.replaceAll("\\s*[\\r\\n]+\\s*", " ").trim());
    }
}
