package io.roster;

/**
 * The backend refused the credentials (wrong user, password or token) or the operation is not permitted for them.
 */
public class RegistryAccessDeniedException extends RegistryException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception.
     *
     * @param message what was refused, without the credentials themselves
     * @param cause the underlying failure, or {@code null}
     */
    public RegistryAccessDeniedException(String message, Throwable cause) {
        super(message, cause);
    }
}
