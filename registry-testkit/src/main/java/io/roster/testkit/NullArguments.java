package io.roster.testkit;

import io.roster.InvalidOptionException;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Checks that a builder refuses every null argument the way it refuses any other bad option: an
 * {@link InvalidOptionException} naming the option, never a bare {@code NullPointerException} (issue 16 item 3).
 */
public final class NullArguments {
    private NullArguments() {
    }

    /**
     * Calls every public method of a builder that takes object arguments with nulls, each on a fresh builder, and
     * checks that each call fails at once with an {@link InvalidOptionException}.
     *
     * @param builders makes a fresh builder
     * @return how many methods were checked
     */
    public static int assertRefusedByEverySetter(Supplier<?> builders) {
        Class<?> type = builders.get().getClass();
        List<String> failures = new ArrayList<>();
        int checked = 0;
        for (Method m : type.getMethods()) {
            if (m.getDeclaringClass() == Object.class || Modifier.isStatic(m.getModifiers())
                    || m.getParameterCount() == 0 || m.getName().equals("build")) {
                continue;
            }
            Object[] args = new Object[m.getParameterCount()];
            boolean anyObject = false;
            for (int i = 0; i < args.length; i++) {
                Class<?> p = m.getParameterTypes()[i];
                if (p.isPrimitive()) {
                    args[i] = p == boolean.class ? Boolean.FALSE : p == long.class ? 1L : p == double.class ? 1.0 : 1;
                } else {
                    anyObject = true;
                }
            }
            if (!anyObject) {
                continue;
            }
            checked++;
            Object builder = builders.get();
            Throwable thrown = null;
            try {
                m.invoke(builder, args);
            } catch (InvocationTargetException e) {
                thrown = e.getCause();
            } catch (Exception e) {
                thrown = e;
            }
            if (!(thrown instanceof InvalidOptionException)
                    || ((InvalidOptionException) thrown).option() == null) {
                failures.add(m.getName() + "(null) gave " + (thrown == null ? "no error" : thrown.toString()));
            }
        }
        if (!failures.isEmpty()) {
            fail("null arguments not refused as InvalidOptionException: %s", failures);
        }
        assertThat(checked).as("setters taking objects on %s", type.getName()).isPositive();
        return checked;
    }
}
