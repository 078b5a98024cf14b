//! Analysis of commute circles against administrative units and population: coverage, cross-
//! border reach, overlaps, catchments, metropolitan-area membership and plan comparison.

pub mod overlay;
pub mod plan;
pub mod population;
pub mod reach;
pub mod units;
