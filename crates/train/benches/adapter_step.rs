// Guards: placeholder until the trainer lands.
fn main() {}
