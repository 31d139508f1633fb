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
            Self::FabFastApi => "Airflow 3 FAB API (FastAPI, /auth/fab/v1)",
            Self::FabConnexion => "Airflow 3.0 FAB API (Connexion, /auth/fab/v1)",
            Self::Airflow2 => "Airflow 2 API (/api/v1)",
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

    /// Only FastAPI FAB's role PATCH replaces the permission set; the Connexion-based APIs (FAB
    /// ≤ 3.1 on Airflow 3.0, and Airflow 2) merge, so they can add permissions but never remove
    /// one (measured on 3.0.6 and 2.11.2: the PATCH answers 200 and the permission stays).
    pub fn role_patch_can_remove_permissions(self) -> bool {
        self == Self::FabFastApi
    }

    /// Airflow 2 answers 403, never 401, to missing or wrong credentials.
    pub fn forbidden_may_mean_bad_credentials(self) -> bool {
        self == Self::Airflow2
    }
}

/// The generation the probe answers point to (measured on real 3.3.2, 3.0.6 and 2.11.2).
/// `POST /auth/token` with `{}`: FastAPI FAB answers 400 ("Username and password must be
/// provided"), Airflow 3.0's token route 422 (body validation), Airflow 2 an HTML 404, which
/// `GET /api/v1/health` (200 on Airflow 2 only) then confirms. `/auth/openapi.json` cannot tell
/// them apart: Airflow 3.0 serves one too.
pub fn detect(token_probe: u16, v1_health: Option<u16>) -> Option<Generation> {
    match (token_probe, v1_health) {
        (400, _) => Some(Generation::FabFastApi),
        (422, _) => Some(Generation::FabConnexion),
        (404, Some(200)) => Some(Generation::Airflow2),
        _ => None,
    }
}

/// Whether the token probe's answer needs the Airflow 2 confirmation.
pub fn needs_v1_probe(token_probe: u16) -> bool {
    token_probe == 404
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
    fn detection_reads_the_token_probe_and_confirms_airflow2() {
        assert_eq!(detect(400, None), Some(Generation::FabFastApi));
        assert_eq!(detect(422, None), Some(Generation::FabConnexion));
        assert!(needs_v1_probe(404));
        assert_eq!(detect(404, Some(200)), Some(Generation::Airflow2));
        assert_eq!(detect(404, Some(404)), None);
        assert_eq!(detect(200, None), None);
        assert_eq!(detect(502, None), None);
    }
}
