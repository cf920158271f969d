use super::*;

#[test]
fn the_descriptors_hold_the_check_service_and_everything_it_imports() {
    use prost::Message as _;
    let set = prost_types::FileDescriptorSet::decode(DESCRIPTORS).unwrap();
    let names: std::collections::HashSet<&str> = set.file.iter().map(|file| file.name()).collect();
    assert!(names.contains("envoy/service/auth/v3/external_auth.proto"));
    for file in &set.file {
        for dependency in &file.dependency {
            assert!(
                names.contains(dependency.as_str()),
                "{} imports {dependency}, which is missing",
                file.name()
            );
        }
    }
}
