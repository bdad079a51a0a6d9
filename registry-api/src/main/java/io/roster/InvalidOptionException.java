package io.roster;

/**
 * A registry URI or builder option is unknown or has a bad value. The message names the option and, for an
 * unknown one, lists the options the backend understands. Secret values are never part of the message.
 */
public class InvalidOptionException extends RegistryException {
    private static final long serialVersionUID = 1L;

    private final String option;

    /**
     * Creates the exception.
     *
     * @param option the offending option, such as {@code ttl}
     * @param message the full explanation
     */
    public InvalidOptionException(String option, String message) {
        super(message);
        this.option = option;
    }

    /**
     * Creates the exception with the failure that revealed the bad value.
     *
     * @param option the offending option, such as {@code ttl}
     * @param message the full explanation
     * @param cause the underlying failure
     */
    public InvalidOptionException(String option, String message, Throwable cause) {
        super(message, cause);
        this.option = option;
    }

    /**
     * Returns the offending option.
     *
     * @return the option name
     */
    public String option() {
        return option;
    }
}
