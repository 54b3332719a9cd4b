#include <vector>
#define MAX_ITEMS 64
#define SQUARE(x) ((x) * (x))

namespace ui {

class Widget;

class Widget : public Base {
public:
    Widget(int w);
    ~Widget();
    virtual void draw() const;
    static Widget* create();
private:
    int width_;
};

struct Point {
    int x, y;
};

typedef unsigned long ulong_t;

enum class Color { Red, Green };

int Widget::width() const {
    return width_;
}

static int
helper(int a, int b)
{
    if (a) {
        return b;
    }
    return a;
}

void process(std::vector<int>& items) {
    for (int i : items) {
    }
}

}  // namespace ui

int main(int argc, char** argv) {
    return 0;
}
