//! What the dev server does besides serving: playing the sample customer.
//!
//! `make dev` registers a sample customer account, opens its onboarding
//! page as the customer would, and launches the stack behind the page's
//! Launch Stack link into the emulator (moto serves CloudFormation and
//! IAM): the template the link names, with the parameters the link fills
//! in. The printed link then ends in SUCCESS when its "Check connection"
//! is clicked. The journey tests call the same functions.

pub mod customer;
pub mod https;
