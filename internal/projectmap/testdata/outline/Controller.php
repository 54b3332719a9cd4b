<?php
namespace App\Http;

// function commented() {}
abstract class Controller extends Base
{
    const VERSION = "1";

    public function index(Request $request)
    {
        return view('index');
    }

    private static function &helper()
    {
    }

    protected function store() {}
}

interface Renderable
{
    public function render(): string;
}

function global_helper($x) {
    return $x;
}
