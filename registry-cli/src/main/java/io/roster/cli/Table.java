package io.roster.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/** Columns aligned with spaces, the header in bold and cells in colour when the terminal wants them. */
final class Table {
    /** How a cell is shown on a colour terminal. */
    enum Style {
        PLAIN(""), BOLD("\u001b[1m"), DIM("\u001b[2m"), GREEN("\u001b[32m"), YELLOW("\u001b[33m"), RED("\u001b[31m");

        final String code;

        Style(String code) {
            this.code = code;
        }

        String apply(String text, boolean color) {
            return !color || code.isEmpty() || text.isEmpty() ? text : code + text + "\u001b[0m";
        }
    }

    /** One cell: its text (made printable) and style. */
    record Cell(String text, Style style) {
        Cell {
            text = Text.printable(text);
        }
    }

    private final String[] headers;
    private final List<Cell[]> rows = new ArrayList<>();

    Table(String... headers) {
        this.headers = headers;
    }

    static Cell cell(String text, Style style) {
        return new Cell(text, style);
    }

    Table row(String... texts) {
        Cell[] cells = new Cell[texts.length];
        for (int i = 0; i < texts.length; i++) {
            cells[i] = new Cell(texts[i], Style.PLAIN);
        }
        return row(cells);
    }

    Table row(Cell... cells) {
        if (cells.length != headers.length) {
            throw new IllegalArgumentException("expected " + headers.length + " cells, got " + cells.length);
        }
        rows.add(cells);
        return this;
    }

    boolean isEmpty() {
        return rows.isEmpty();
    }

    void print(PrintWriter out, boolean color) {
        int[] widths = new int[headers.length];
        for (int i = 0; i < headers.length; i++) {
            widths[i] = headers[i].length();
        }
        for (Cell[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                widths[i] = Math.max(widths[i], row[i].text().length());
            }
        }
        Cell[] head = new Cell[headers.length];
        for (int i = 0; i < headers.length; i++) {
            head[i] = new Cell(headers[i], Style.BOLD);
        }
        line(out, head, widths, color);
        for (Cell[] row : rows) {
            line(out, row, widths, color);
        }
        out.flush();
    }

    private static void line(PrintWriter out, Cell[] cells, int[] widths, boolean color) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < cells.length; i++) {
            String text = cells[i].text();
            sb.append(cells[i].style().apply(text, color));
            if (i < cells.length - 1) {
                sb.append(" ".repeat(widths[i] - text.length() + 2)); // padding outside the colour codes
            }
        }
        out.println(sb.toString().stripTrailing());
    }
}
