//! Crate docs.
use std::fmt;

/* fn commented() {} */
pub const MAX: usize = 10;
static mut COUNTER: u32 = 0;

#[derive(Debug)]
pub struct Point {
    pub x: i32,
}

pub(crate) enum Shape {
    Circle(f64),
}

pub trait Area {
    fn area(&self) -> f64;
    const SIDES: u32;
}

impl Area for Point {
    fn area(&self) -> f64 {
        0.0
    }
    const SIDES: u32 = 0;
}

impl<T: fmt::Display> Wrapper<T> {
    pub fn new(v: T) -> Self {
        Wrapper(v)
    }

    pub(crate) async unsafe fn danger(&self) {}
}

pub async fn serve(addr: &str) -> Result<(), Error> {
    Ok(())
}

const fn square(x: u32) -> u32 {
    x * x
}

macro_rules! hello {
    () => {};
}

mod tests {
    fn helper() {}
}

type Alias = Vec<u8>;
