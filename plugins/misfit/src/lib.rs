//! A valid component that targets another world: it exports a `greeter`
//! interface instead of `peershare:sim/peer`. The host must refuse it with
//! an error that says what is missing.

wit_bindgen::generate!({
    inline: "
        package test:misfit;
        interface greeter { greet: func(name: string) -> string; }
        world misfit { export greeter; }
    ",
});

struct Misfit;

impl exports::test::misfit::greeter::Guest for Misfit {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}

export!(Misfit);
