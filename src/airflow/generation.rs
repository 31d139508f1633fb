//! The three shapes of Airflow's user/role API. They follow the FAB provider's version more
//! than Airflow's (see shared/reference/airflow-api.md).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Airflow 3 with FAB ≥ 3.5: FastAPI under /auth/fab/v1, JWT from /auth/token.
    FabFastApi,
    /// Airflow 3.0 with FAB ≤ 3.1: Connexion under /auth/fab/v1, HTTP Basic.
    FabConnexion,
    /// Airflow 2.x: /api/v1, HTTP Basic.
    Airflow2,
}

impl Generation {
    pub const ALL: [Generation; 3] = [Self::FabFastApi, Self::FabConnexion, Self::Airflow2];

    /// The value of the `api_generation` setting that selects it.
    pub fn setting(self) -> &'static str {
        match self {
            Self::FabFastApi => "fab-fastapi",
            Self::FabConnexion => "fab-connexion",
            Self::Airflow2 => "airflow2",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.setting() == value)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::FabFastApi => "Airflow 3 FAB API (FastAPI, /auth/fab/v1, JWT)",
            Self::FabConnexion => "Airflow 3.0 FAB API (Connexion, /auth/fab/v1, Basic)",
            Self::Airflow2 => "Airflow 2 API (/api/v1, Basic)",
        }
    }

    pub fn prefix(self) -> &'static str {
        match self {
            Self::FabFastApi | Self::FabConnexion => "/auth/fab/v1",
            Self::Airflow2 => "/api/v1",
        }
    }

    /// Password sign-in exchanges the password for a JWT; the others send Basic credentials.
    pub fn signs_in_with_jwt(self) -> bool {
        self == Self::FabFastApi
    }

    /// Connexion validates a PATCH body against the whole user schema.
    pub fn patch_needs_identity_fields(self) -> bool {
        self != Self::FabFastApi
    }

    /// Airflow 2 answers 403, never 401, to missing or wrong credentials.
    pub fn forbidden_may_mean_bad_credentials(self) -> bool {
        self == Self::Airflow2
    }
}

/// The generation the probe answers point to: `GET /auth/openapi.json` is served only by the
/// FastAPI FAB API; `GET /api/v1/health` only by Airflow 2. Neither: Connexion FAB on Airflow
/// 3.0, if its health endpoint answers; otherwise not Airflow at all.
pub fn detect(
    fab_openapi: u16,
    v1_health: Option<u16>,
    v2_health: Option<u16>,
) -> Option<Generation> {
    if fab_openapi == 200 {
        return Some(Generation::FabFastApi);
    }
    if v1_health == Some(200) {
        return Some(Generation::Airflow2);
    }
    if v2_health == Some(200) {
        return Some(Generation::FabConnexion);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip() {
        for g in Generation::ALL {
            assert_eq!(Generation::parse(g.setting()), Some(g));
        }
        assert_eq!(Generation::parse("auto"), None);
    }

    #[test]
    fn detection_prefers_fastapi_then_airflow2_then_connexion() {
        assert_eq!(detect(200, None, None), Some(Generation::FabFastApi));
        assert_eq!(detect(404, Some(200), None), Some(Generation::Airflow2));
        assert_eq!(
            detect(404, Some(404), Some(200)),
            Some(Generation::FabConnexion)
        );
        assert_eq!(detect(404, Some(404), Some(404)), None);
    }
}
