package com.example;

import java.util.List;

/**
 * public class NotReal {
 */
@SuppressWarnings("unchecked")
public final class Main extends Base implements Runnable {
    private static final int LIMIT = 10;

    public Main(String name) {
        super(name);
    }

    @Override
    public void run() {
        if (ready()) {
            return;
        }
    }

    public static <T> List<T> collect(Iterable<T> items) throws Exception {
        return null;
    }

    protected int[] numbers() { return null; }

    abstract String describe(int level);

    enum State { ON, OFF }

    static class Inner {
        void innerMethod() {}
    }
}

interface Shape {
    double area();
}

record Pair(int a, int b) {}
