{{ config(enabled=false) }}
select user_id, amount from {{ ref('events') }}
