//! The state every kind of change works on, below all of them: the files of this folder each
//! add methods to `Provisioner`, and reach each other only downwards (`mod.rs` dispatches to
//! `permissions` and `roles`; they and `mod.rs` use `verify`; all of them use this file).

use crate::airflow::client::Client;
use crate::config::Config;
use crate::http::Transport;

pub struct Provisioner<'a, T: Transport> {
    pub(super) client: &'a mut Client<T>,
    pub(super) config: &'a Config,
}

impl<'a, T: Transport> Provisioner<'a, T> {
    pub fn new(client: &'a mut Client<T>, config: &'a Config) -> Self {
        Provisioner { client, config }
    }
}
