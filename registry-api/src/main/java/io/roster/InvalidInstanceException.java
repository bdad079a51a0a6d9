package io.roster;

/**
 * A service instance, or a service name given to discovery, breaks a rule. Raised before any backend is touched,
 * so nothing has been written anywhere.
 */
public class InvalidInstanceException extends RegistryException {
    private static final long serialVersionUID = 1L;

    private final String field;
    private final String rule;

    /**
     * Creates the exception.
     *
     * @param field the offending field, such as {@code name}, {@code endpoints[1]} or {@code metadata}
     * @param rule the rule it breaks, such as {@code must not contain '/'}
     * @param detail extra context appended to the message (the offending value, for instance); may be empty
     */
    public InvalidInstanceException(String field, String rule, String detail) {
        super(field + " " + rule + (detail == null || detail.isEmpty() ? "" : " " + detail));
        this.field = field;
        this.rule = rule;
    }

    /**
     * Returns the field that breaks the rule.
     *
     * @return the field name, such as {@code name} or {@code endpoints[1]}
     */
    public String field() {
        return field;
    }

    /**
     * Returns the rule that was broken.
     *
     * @return the rule, such as {@code must not contain '/'}
     */
    public String rule() {
        return rule;
    }
}
