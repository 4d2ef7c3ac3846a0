//! Events the host starts on its own, for every company that has an app
//! installed: sidecar schedules ([`schedules`]) and webhook deliveries from
//! third parties ([`webhooks`]). Both hand their event to the
//! [`Dispatcher`](crate::dispatch::Dispatcher)'s background path, which
//! draws on a budget apart from Keruj's requests.

pub mod schedules;
pub mod webhooks;
