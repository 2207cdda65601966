//! rpi: placeholder until its collector lands (reports no data).

use super::{CollectError, Ctx, Out};

/// Not yet written.
pub fn update(_ctx: &Ctx<'_>, _out: &mut Out<'_>) -> Result<(), CollectError> {
    Err(CollectError::NoData("collector rpi not written yet".into()))
}
